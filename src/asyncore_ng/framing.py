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
one step ahead: the caller feeds a chunk, then asks for steps, passing the
terminator that is current *now*, until the framer says it needs more input::

    more = framer.feed(chunk)
    while more:
        step = framer.next_step(chat.get_terminator())
        if step is None:
            break
        data, found, more = step
        ...  # data -> collect_incoming_data, found -> found_terminator

``more`` is true only after a found terminator with input left over, which is
exactly when the stdlib's loop went round again; so ``get_terminator`` is
consulted the same number of times as by the stdlib.

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
``next_step`` takes an optional ``limit``: the most message bytes (excluding
the terminator) that may be delivered between two found terminators.  The
decision depends only on the message, never on the chunking: a message
longer than ``limit`` always overflows, a shorter one never does.  On
overflow the framer drops everything it holds and raises ``InputOverflow``
*before* handing out the excess, so a caller that stores what it is given
holds at most ``limit`` bytes plus the held tail.  With no terminator
(``None``) the whole stream is one message, so a limit caps the stream.
"""

from __future__ import annotations

from typing import Optional, Tuple, TypeVar, Union

__all__ = [
    "CLEAR",
    "CUT_FROM",
    "KEEP_TAIL",
    "InputFramer",
    "InputOverflow",
    "Plan",
    "Step",
    "Terminator",
    "find_prefix_at_end",
]

#: What ``next_step`` accepts as a terminator.  ``str`` is not in the list: the
#: chat layer encodes it (``use_encoding``) before it gets here.
Terminator = Union[bytes, bytearray, int, None]

#: One framing step: message bytes to deliver (possibly empty when ``found``),
#: whether the current message ended there, and whether another step could make
#: progress without new input.
Step = Tuple[bytes, bool, bool]

#: A step decided but not taken: ``(start, stop, cut, rest, found)`` (see ``InputFramer.plan``).
Plan = Tuple[int, int, int, int, bool]

#: What the stdlib did to ``ac_in_buffer`` after ``collect_incoming_data`` returned.
CLEAR = 0  # emptied it
CUT_FROM = 1  # kept what follows the first ``rest`` bytes
KEEP_TAIL = 2  # kept the last ``rest`` bytes (a possible start of the terminator), and waited

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

    Sans-IO: it never reads or calls back.  ``feed`` adds received bytes;
    ``next_step`` reports the next piece of message data and whether the
    current message ended there.  See the module docstring for the contract
    and the costs.  Not thread-safe (one channel, one thread).
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
            self._search_from -= pos  # only read while >= pos (see next_step)
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

    # -- one step, in two halves ---------------------------------------------------------
    #
    # The stdlib handed collect_incoming_data a slice of ac_in_buffer and cut the buffer only
    # after it returned: if it raised, the same bytes came again with the next read; while it
    # ran, ac_in_buffer still held them; and if it assigned ac_in_buffer, the cut applied to the
    # new value. ``plan`` decides a step without moving; ``commit`` moves, after the caller has
    # delivered the data, applying the stdlib's cut to replaced bytes when told they were.

    def plan(self, terminator: Terminator) -> Optional[Plan]:
        """Decide the next step with the terminator current now, without moving.

        ``None`` when nothing is pending, or all of it is a held tail that only more input
        can complete. Otherwise ``(start, stop, cut, rest, found)``: the message data is
        ``slice(start, stop)`` (possibly empty when ``found``); ``found`` says the message ends
        there, its terminator consumed; ``cut`` is what the stdlib did to ``ac_in_buffer``
        next (:data:`CLEAR`, :data:`CUT_FROM` ``rest`` bytes in, or :data:`KEEP_TAIL` of
        ``rest`` bytes, after which it stopped stepping until the next read). For an ``int``
        terminator not reached, ``rest`` is the count handed out (the caller counts down).

        Raises ``TypeError`` for a terminator that is neither bytes-like, an ``int`` nor false
        (a ``str`` must be encoded first), and ``ValueError`` for a negative ``int``.
        """
        buf = self._buf
        pos = self._pos
        end = len(buf)
        if pos >= end:
            return None
        if not terminator:
            return pos, end, CLEAR, 0, False
        if isinstance(terminator, int):
            if terminator < 0:
                raise ValueError(f"a byte-count terminator cannot be negative: {terminator}")
            available = end - pos
            if available < terminator:
                return pos, end, CLEAR, available, False
            return pos, pos + terminator, CUT_FROM, terminator, True
        # A bytes terminator, the common case.
        search_term = self._search_term
        if search_term is not None and terminator == search_term:
            if self._stalled:
                return None
            start = self._search_from if self._search_from > pos else pos
        else:
            start = pos
        try:
            index = buf.find(terminator, start)
        except TypeError:
            raise TypeError(
                f"terminator must be bytes, an int or None, not {type(terminator).__name__}"
            ) from None
        if index >= 0:
            return pos, index, CUT_FROM, index - pos + len(terminator), True
        # Not found: all but a possible beginning of the terminator is message data. A held
        # tail ends with a byte of the terminator: most reads end with none, and one
        # membership test spares them the search.
        term = terminator if type(terminator) is bytes else bytes(terminator)
        held = _held_tail(buf, term, pos, end) if buf[end - 1] in term else 0
        if held:
            self._search_term = term
            self._search_from = end - held
            if held == end - pos:
                self._stalled = True
                return None
            return pos, end - held, KEEP_TAIL, held, False
        return pos, end, CLEAR, 0, False

    def slice(self, start: int, stop: int) -> bytes:
        """The message data of a planned step."""
        buf = self._buf
        return buf if start == 0 and stop == len(buf) else buf[start:stop]

    def check_limit(self, plan: Plan, limit: Optional[int]) -> None:
        """Raise ``InputOverflow`` (after dropping everything pending) if delivering ``plan``
        would take the message past ``limit`` bytes."""
        if limit is not None:
            length = self._message_length + plan[1] - plan[0]
            if length > limit:
                self.reset()
                self._message_length = 0
                raise InputOverflow(length, limit)

    def commit(self, plan: Plan, replaced: bool = False) -> None:
        """Move past a planned step once its data was delivered. ``replaced``: the pending
        bytes were replaced meanwhile (``reset``): apply the stdlib's cut to the new ones."""
        start, stop, cut, rest, found = plan
        self._message_length = 0 if found else self._message_length + stop - start
        if replaced:
            data = self._buf[self._pos :]
            if cut == CLEAR:
                data = b""
            elif cut == CUT_FROM:
                data = data[rest:]
            else:
                data = data[-rest:]
            self.reset(data)
            return
        if cut == CLEAR:
            self._drop()
        elif cut == CUT_FROM:
            if found and self._search_term is not None:
                self._search_term = None
            pos = start + rest
            if pos < len(self._buf):
                self._pos = pos
            else:
                self._drop()
        else:
            self._pos = len(self._buf) - rest
            self._stalled = True

    def _drop(self) -> None:
        # Drop the reference to a consumed chunk at once: it may be 64 KiB.
        self._buf = b""
        self._pos = 0
        self._search_from = 0

    def next_step(self, terminator: Terminator, limit: Optional[int] = None) -> Optional[Step]:
        """Plan and commit one step: ``(data, found, more)``, or ``None`` when nothing can be
        done until more input arrives.

        ``more`` is true when input is left that the next step (with whatever terminator is
        current then) should look at: after a found terminator with input left over, exactly
        when the stdlib's loop went round again. ``limit`` caps the message length (see the
        module docstring); exceeding it raises ``InputOverflow`` after dropping all pending
        input.
        """
        plan = self.plan(terminator)
        if plan is None:
            return None
        self.check_limit(plan, limit)
        data = self.slice(plan[0], plan[1])
        self.commit(plan)
        found = plan[4]
        return data, found, found and self._pos < len(self._buf)
