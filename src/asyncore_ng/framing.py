"""Input framing for ``async_chat``: terminator scanning with no I/O in it.

Theory of operation
-------------------
A chat channel receives bytes in chunks of arbitrary size and must cut them into
messages at the *current terminator*, which is one of:

- a non-empty ``bytes`` value (``b"\\r\\n"``, ``b"\\r\\n.\\r\\n"``...): the message ends
  just before the next occurrence, which may arrive split across reads;
- a positive ``int``: the number of bytes the message still needs;
- ``None``, ``b""`` or ``0``: no framing at all, everything is message data.

The terminator may change at any step (``found_terminator`` calls
``set_terminator``, or a subclass computes ``get_terminator``), and the new one
applies to the bytes already received.  So the framer never decides more than
one step ahead: ``InputFramer.deliver(chat, chunk)`` adds a received chunk and
takes steps, asking ``chat.get_terminator()`` before each, calling
``chat.collect_incoming_data`` and ``chat.found_terminator`` as the stdlib's
``async_chat.handle_read`` did, call for call, until it needs more input.  It
does no I/O: the chat reads, the framer frames.

Each step hands out message bytes as soon as they are known not to belong to a
terminator, like the stdlib did: only a tail that might be the start of a
split terminator (fewer bytes than the terminator) stays buffered between
reads.  That keeps memory independent of message size, and it is also what
fixes the *concatenation* of the data between two terminators, which callers
can rely on; where one chunk ends and the next begins is not promised (the
stdlib's boundaries followed its reads too).

Cost
----
The stdlib re-sliced the rest of its buffer after every terminator
(``buf = buf[i + len(term):]``) and appended each read to what it held
(``buf = buf + data``): a 64 KiB read of 10-byte lines copied about 200 MB.
Here the received chunk is kept as it is and a read position moves through
it, so a step costs the bytes it hands out plus a search that starts where
the previous one stopped.  After a failed search the framer remembers where a
match could still begin (the start of the held tail) and, while neither the
input nor the terminator changes, answers "need more input" without looking
again.  Total work is linear in the bytes received, whatever the chunking.
The one copy per read is joining the held tail (shorter than the terminator)
to the new chunk.

Input limit
-----------
``deliver`` takes an optional ``limit``: the most message bytes (excluding
the terminator) that may be delivered between two found terminators.  The
decision depends only on the message, never on the chunking: a message
longer than ``limit`` always overflows, a shorter one never does.  On
overflow the framer drops everything it holds and raises ``InputOverflow``
*before* handing out the excess, so a caller that stores what it is given
holds at most ``limit`` bytes plus the held tail.  With no terminator
(``None``) the whole stream is one message, so a limit caps the stream.
"""

from __future__ import annotations

from typing import Any, Optional, Protocol, TypeVar, Union

__all__ = ["InputFramer", "InputOverflow", "Receiver", "Terminator", "find_prefix_at_end"]

#: What ``deliver`` accepts as a terminator.  ``str`` is not in the list: the
#: chat layer encodes it (``use_encoding``) before it gets here.
Terminator = Union[bytes, bytearray, int, None]

#: What the stdlib did to ``ac_in_buffer`` after ``collect_incoming_data`` returned.
CLEAR = 0  # emptied it
CUT_FROM = 1  # kept what follows the first ``rest`` bytes
KEEP_TAIL = 2  # kept the last ``rest`` bytes (a possible start of the terminator), and waited


class Receiver(Protocol):
    """What ``InputFramer.deliver`` calls: the hooks of ``async_chat``."""

    terminator: Any

    def get_terminator(self) -> Any: ...

    def collect_incoming_data(self, data: bytes) -> None: ...

    def found_terminator(self) -> None: ...


_Seq = TypeVar("_Seq", str, bytes, bytearray)


class InputOverflow(Exception):
    """A message grew past the input limit before its terminator arrived.

    ``length`` is the message length known when the limit was crossed (a lower
    bound of its real length); ``limit`` is the limit that was passed in.
    """

    def __init__(self, length: int, limit: int) -> None:
        super().__init__(f"{length} bytes of input without a terminator exceed the limit of {limit} bytes")
        self.length = length
        self.limit = limit


def find_prefix_at_end(haystack: _Seq, needle: _Seq) -> int:
    """Return the length of the longest proper prefix of ``needle`` that ends ``haystack``.

    Same results as the stdlib's ``asynchat.find_prefix_at_end`` for every input,
    including its corner cases: a full ``needle`` at the end is not counted
    (the caller is expected to have searched for it first), and an empty
    ``needle`` gives ``-1``.  Works on ``str`` as well as bytes-like sequences.
    """
    if not needle:
        return -1
    return _held_tail(haystack, needle, 0, len(haystack))


def _held_tail(buf: _Seq, term: _Seq, start: int, end: int) -> int:
    """Length of the longest proper prefix of ``term`` that ends ``buf[start:end]``.

    The stdlib tried every prefix length with ``endswith`` (quadratic in the
    terminator's length on every read).  A prefix can only begin at an
    occurrence of the terminator's first item among the last ``len(term) - 1``
    positions, and the leftmost one that matches is the longest, so only those
    positions are checked.
    """
    first = term[:1]
    lowest = end - len(term) + 1
    candidate = buf.find(first, lowest if lowest > start else start, end)
    while candidate >= 0:
        if buf.startswith(term[: end - candidate], candidate, end):
            return end - candidate
        candidate = buf.find(first, candidate + 1, end)
    return 0


class InputFramer:
    """Cuts a byte stream into messages at a terminator that may change at every step.

    Sans-IO: it never reads or writes.  ``deliver`` adds received bytes and
    hands the messages to the chat's hooks.  See the module docstring for the
    contract and the costs.  Not thread-safe (one channel, one thread).
    """

    __slots__ = ("_buf", "_message_length", "_pos", "_search_from", "_search_term", "_stalled", "generation")

    def __init__(self) -> None:
        # Received bytes not yet handed out are self._buf[self._pos:].  The
        # chunk from recv() is kept whole and the position moves through it,
        # which is what makes a step cost what it delivers rather than what
        # is left.  When nothing is pending, _buf is b"" and _pos and
        # _search_from are 0.
        self._buf = b""
        self._pos = 0
        # Where a bytes terminator could still start, valid while
        # self._search_term is the current terminator; _stalled means all
        # pending bytes are a held tail and only new input can help.
        self._search_term: Optional[bytes] = None
        self._search_from = 0
        self._stalled = False
        self._message_length = 0
        #: Counts ``reset`` calls: lets a caller notice that the pending bytes were replaced.
        self.generation = 0

    def drained(self) -> bool:
        """Whether every received byte has been handed out (nothing pending)."""
        return self._pos >= len(self._buf)

    def __len__(self) -> int:
        """Number of received bytes not handed out yet."""
        return len(self._buf) - self._pos

    @property
    def pending(self) -> bytes:
        """The received bytes not handed out yet (a copy; the stdlib's ``ac_in_buffer``)."""
        return self._buf[self._pos :]

    @property
    def message_length(self) -> int:
        """Message bytes handed out since the last found terminator (what the limit counts)."""
        return self._message_length

    def feed(self, data: Union[bytes, bytearray, memoryview]) -> bool:
        """Add received bytes after those still pending; return whether any are pending.

        Costs the size of ``data`` plus the pending bytes, which between reads
        are only a held tail shorter than the terminator.
        """
        if not data:
            return self._pos < len(self._buf)
        if not isinstance(data, bytes):
            data = bytes(data)
        pos = self._pos
        if pos < len(self._buf):
            self._buf = self._buf[pos:] + data
            self._pos = 0
            self._search_from -= pos  # only read while >= pos (see deliver)
        else:
            self._buf = data  # nothing pending: _pos and _search_from are 0 already
        self._stalled = False
        return True

    def reset(self, data: Union[bytes, bytearray, memoryview] = b"") -> None:
        """Replace the pending bytes with ``data`` (``b""`` discards them), forgetting any search.

        The message length counted for the limit is kept: discarding input
        does not start a new message.
        """
        self._buf = bytes(data)
        self._pos = 0
        self._search_term = None
        self._search_from = 0
        self._stalled = False
        self.generation += 1

    def end_message(self) -> None:
        """Start counting a new message for the limit, as a found terminator does."""
        self._message_length = 0

    # -- framing ---------------------------------------------------------------------------

    def deliver(
        self, chat: Receiver, data: Union[bytes, bytearray, memoryview], limit: Optional[int] = None
    ) -> None:
        """Add ``data`` (just received) and hand ``chat`` every step that can be taken, making
        exactly the calls the stdlib's ``async_chat.handle_read`` made after its ``recv``:
        for each step, ``chat.get_terminator()``, then ``chat.collect_incoming_data(data)``
        (never empty), then the count-down of ``chat.terminator`` for a byte count, then
        ``chat.found_terminator()``. Every hook is looked up when called (programs replace them,
        and the terminator, inside ``found_terminator``).

        Between the calls the pending bytes (``pending``, the chat's ``ac_in_buffer``) are what
        the stdlib's buffer held: inside ``collect_incoming_data`` still the data being
        collected and all that follows (the stdlib cut its buffer only after the call), inside
        ``found_terminator`` what follows the terminator. A hook that replaces them (``reset``)
        gets the stdlib's cut applied to the new bytes. If a hook raises, the bytes not yet
        cut stay pending for the next read, as they stayed in the stdlib's buffer.

        ``limit`` caps the message length (module docstring): a step that would take the
        message past it raises ``InputOverflow`` after dropping all pending input, before any
        of the excess is delivered.
        """
        if data:
            if type(data) is bytes and self._pos >= len(self._buf):
                self._buf = data  # nothing pending: the chunk as it is (feed's common case)
                self._pos = 0
                self._stalled = False
            else:
                self.feed(data)
        while True:
            buf = self._buf
            pos = self._pos
            end = len(buf)
            if pos >= end:
                return
            terminator = chat.get_terminator()
            if type(terminator) is bytes and limit is None and terminator and self._search_term is None:
                # The usual step, written out: a bytes terminator, searched afresh. When it is
                # found, the step is the general one's CUT_FROM below, without its tests.
                stop = buf.find(terminator, pos)
                if stop >= 0:
                    generation = self.generation
                    if stop > pos:
                        chat.collect_incoming_data(buf[pos:stop])
                    self._message_length = 0
                    after = stop + len(terminator)
                    if self.generation != generation:
                        self.reset(self._buf[self._pos :][after - pos :])  # (a hook assigned ac_in_buffer)
                    elif after < end:
                        self._pos = after
                    else:
                        self._buf = b""
                        self._pos = 0
                        self._search_from = 0
                    chat.found_terminator()
                    if self._buf:
                        continue  # more input pending (or a hook put some in ac_in_buffer)
                    return
            # Decide the step: message data is buf[pos:stop]; then the stdlib cut its buffer
            # (cut, rest: see CLEAR, CUT_FROM, KEEP_TAIL) and, if found, called found_terminator.
            if not terminator:
                stop = end
                cut = CLEAR
                rest = 0
                found = False
                self._search_term = None  # (the memo below is for a bytes terminator only)
            elif isinstance(terminator, int):
                self._search_term = None
                if terminator < 0:
                    raise ValueError(f"a byte-count terminator cannot be negative: {terminator}")
                rest = terminator
                if end - pos < terminator:
                    stop = end
                    cut = CLEAR
                    rest = end - pos
                    found = False
                else:
                    stop = pos + terminator
                    cut = CUT_FROM
                    found = True
            else:
                # A bytes terminator, the common case. After a failed search the memo says
                # where a match could still begin (or that only new input can help).
                if type(terminator) is not bytes:
                    len(terminator)  # the stdlib took len() first: its TypeError for a float...
                start = pos
                if self._search_term is not None:
                    if terminator == self._search_term:
                        if self._stalled:
                            return
                        if self._search_from > pos:
                            start = self._search_from
                    else:
                        self._search_term = None
                stop = buf.find(terminator, start)
                if stop >= 0:
                    cut = CUT_FROM
                    rest = stop - pos + len(terminator)
                    found = True
                    self._search_term = None
                else:
                    # All but a possible beginning of the terminator is message data. A held
                    # tail ends with a byte of the terminator: most reads end with none, and
                    # one membership test spares them the search.
                    found = False
                    term = terminator if type(terminator) is bytes else bytes(terminator)
                    rest = _held_tail(buf, term, pos, end) if buf[end - 1] in term else 0
                    if rest:
                        self._search_term = term
                        self._search_from = stop = end - rest
                        if stop == pos:
                            self._stalled = True
                            return
                        cut = KEEP_TAIL
                    else:
                        stop = end
                        cut = CLEAR
            generation = self.generation
            if stop > pos:
                if limit is not None:  # (the message is measured only while a limit is set)
                    length = self._message_length + stop - pos
                    if length > limit:
                        self.reset()
                        self._message_length = 0
                        raise InputOverflow(length, limit)
                    self._message_length = length
                chat.collect_incoming_data(buf if pos == 0 and stop == end else buf[pos:stop])
            if found:
                self._message_length = 0
            # Cut, as the stdlib did after collect_incoming_data returned.
            if self.generation != generation:
                replaced = self._buf[self._pos :]  # what a hook put in ac_in_buffer
                self.reset(b"" if cut == CLEAR else replaced[rest:] if cut == CUT_FROM else replaced[-rest:])
            elif cut == CUT_FROM:
                pos += rest
                if pos < end:
                    self._pos = pos
                else:
                    self._buf = b""
                    self._pos = 0
                    self._search_from = 0
            elif cut == CLEAR:
                self._buf = b""  # (drop the consumed chunk at once: it may be 64 KiB)
                self._pos = 0
                self._search_from = 0
            else:
                self._pos = stop
                self._stalled = True
            if cut == KEEP_TAIL:
                return
            if isinstance(terminator, int) and terminator:
                # The stdlib counted down the attribute, whatever get_terminator returned.
                chat.terminator = 0 if found else chat.terminator - rest
            if found:
                chat.found_terminator()
