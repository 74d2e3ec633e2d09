"""``AsyncChat``: asynchat's ``async_chat`` on the engine, as a thin adapter over pure parts.

Input goes through :class:`~asyncore_ng.framing.InputFramer` (terminator scanning, linear
in the bytes received), output through :class:`~asyncore_ng.producers.OutputQueue` (zero-copy
slices, producers drained with ``more()``).  This module only connects them to the socket and to
the documented hooks, in the stdlib's order: for every step of framing, ``collect_incoming_data``
first, then the byte count update, then ``found_terminator``.

Interest.  ``readable()`` is always true and ``writable()`` is "something queued, or not yet
connected".  Both are marked :func:`~asyncore_ng.dispatcher.state_predicate`, so the loop does not
ask an idle chat channel every pass.  That is only correct if every change of the ``writable()``
answer is announced: the output queue reports each time it fills or empties, whoever changed it
(``push`` from another channel's handler, or code appending to ``producer_fifo`` directly), and
the dispatcher announces changes of ``connected``.  A subclass that overrides either predicate
without the decorator is asked every pass, as in the stdlib.

Input limit.  ``ac_in_buffer_limit`` (default ``None``: unlimited, as in the stdlib) caps the
length of one message: the bytes handed to ``collect_incoming_data`` since the last
``found_terminator``.  A message that would exceed it is not delivered past the limit;
``handle_input_overflow()`` runs instead, and by default logs why and closes the channel.  The
cap applies to every kind of terminator: with ``None`` the whole stream is one message.
"""

from __future__ import annotations

import logging
import socket
import weakref
from typing import Callable, Iterable, List, Optional, Tuple, Union

from .dispatcher import BufferedOutput, ChannelMapType, state_predicate
from .framing import InputFramer, InputOverflow, possible_terminator_start
from .producers import CLOSE, Buffer, Entry, OutputQueue, Producer

__all__ = ["AsyncChat"]

logger = logging.getLogger("asyncore_ng")

#: What ``set_terminator`` accepts (``str`` only with ``use_encoding``).
TerminatorArg = Union[bytes, bytearray, str, int, None]


def _announcer(chat: AsyncChat) -> Callable[[], None]:
    """``chat.interest_changed`` without a strong reference from the queue back to the chat (a
    cycle would leave an unclosed channel's socket to the cycle collector, warning late)."""
    ref = weakref.ref(chat)

    def announce() -> None:
        owner = ref()
        if owner is not None:
            owner.interest_changed()

    return announce


class AsyncChat(BufferedOutput):
    """The engine's ``asynchat.async_chat``; see the asynchat documentation for each member.

    Subclass it and define ``collect_incoming_data`` and ``found_terminator``.  Extras beyond the
    stdlib: :attr:`ac_in_buffer_limit` and :meth:`handle_input_overflow`.  Not thread-safe: call
    ``push`` and friends from the loop's thread.
    """

    #: Most bytes read by one ``recv``.
    ac_in_buffer_size = 65536
    #: Most bytes handed to one ``send``; larger pushes are queued as views of this size.
    ac_out_buffer_size = 65536
    #: Most bytes one message may reach without its terminator (``None``: no limit).
    ac_in_buffer_limit: Optional[int] = None

    # Encoding str terminators and str output is opt-in, as in the stdlib: mixing str and bytes
    # is usually a bug that should not pass silently.
    use_encoding = False
    encoding = "latin-1"

    #: The current terminator; set it with ``set_terminator``.  Not set until then (reading data
    #: before a terminator is chosen fails, as in the stdlib).
    terminator: Union[bytes, bytearray, str, int, None]

    def __init__(self, sock: Optional[socket.socket] = None, map: Optional[ChannelMapType] = None) -> None:
        # Buffers first: the dispatcher registers the channel, after which it may be asked.
        self._framer = InputFramer()
        self.incoming: List[bytes] = []
        self._producer_fifo = OutputQueue(on_change=_announcer(self))
        self._queued_bytes = 0  # bytes pushed and not yet sent (for the flow-control marks)
        # push() may send directly unless a subclass changed how sending is done.
        self._direct_push = type(self).initiate_send is AsyncChat.initiate_send
        # handle_read may frame without the framer unless get_terminator is overridden.
        self._plain_terminator = type(self).get_terminator is AsyncChat.get_terminator
        self._unframed: Optional[Tuple[bytes, int]] = None
        super().__init__(sock, map)

    # -- buffers as the stdlib exposed them -----------------------------------------------------

    @property
    def producer_fifo(self) -> OutputQueue:
        """The output queue: a ``collections.deque`` subclass; append to it freely.

        Assigning another iterable (a plain ``deque``, say) replaces the contents of a new
        output queue with its items: the channel must hear of later changes, so it keeps its
        own queue type.
        """
        return self._producer_fifo

    @producer_fifo.setter
    def producer_fifo(self, entries: Iterable[Entry]) -> None:
        if not isinstance(entries, OutputQueue):
            entries = OutputQueue(entries)
        entries.on_change = _announcer(self)
        self._producer_fifo = entries
        self.interest_changed()

    @property
    def ac_in_buffer(self) -> bytes:
        """Received bytes not yet handed to ``collect_incoming_data`` (a copy).

        Between reads this is at most a possible beginning of the terminator.  Assigning
        replaces them (``b""`` discards them), also from inside ``found_terminator``.
        """
        if self._unframed is not None:  # inside found_terminator, on the fast path
            data, pos = self._unframed
            return data[pos:]
        return self._framer.pending

    @ac_in_buffer.setter
    def ac_in_buffer(self, data: Buffer) -> None:
        self._framer.reset(data)

    # -- the two methods a subclass defines -----------------------------------------------------

    def collect_incoming_data(self, data: bytes) -> None:
        """Called with message data as it arrives; ``data`` is never empty."""
        raise NotImplementedError("must be implemented in subclass")

    def found_terminator(self) -> None:
        """Called when the current message is complete (its terminator has been consumed)."""
        raise NotImplementedError("must be implemented in subclass")

    def _collect_incoming_data(self, data: bytes) -> None:
        """A ready-made ``collect_incoming_data``: append to ``self.incoming``."""
        self.incoming.append(data)

    def _get_data(self) -> bytes:
        """Join and clear what ``_collect_incoming_data`` gathered."""
        data = b"".join(self.incoming)
        del self.incoming[:]
        return data

    # -- terminators ----------------------------------------------------------------------------

    def set_terminator(self, term: TerminatorArg) -> None:
        """Set the input delimiter: bytes of any length, a byte count, or ``None`` (none).

        A ``str`` is encoded with ``encoding`` when ``use_encoding`` is set.  A negative count
        raises ``ValueError``.  The new terminator applies to input already received.
        """
        if isinstance(term, str) and self.use_encoding:
            term = term.encode(self.encoding)
        elif isinstance(term, int) and term < 0:
            raise ValueError("the number of received bytes must be positive")
        self.terminator = term

    def get_terminator(self) -> Union[bytes, bytearray, str, int, None]:
        """The terminator in effect; consulted before each framing step."""
        return self.terminator

    # -- input ------------------------------------------------------------------------------------

    def handle_read(self) -> None:
        """Read once, then frame everything that can be framed (see the module docstring)."""
        try:
            data = self.recv(self.ac_in_buffer_size)
        except BlockingIOError:
            return
        except OSError:
            self.handle_error()
            return
        if isinstance(data, str) and self.use_encoding:
            data = data.encode(self.encoding)
        framer = self._framer
        if (
            type(data) is bytes
            and framer.drained()
            and self._plain_terminator
            and self.ac_in_buffer_limit is None
        ):
            rest = self._frame_whole_messages(data)
            if not rest:
                # None: found_terminator replaced the pending input: frame what it put there
                if rest is None and not framer.drained():
                    self._frame_pending(True)
                return
            more = framer.feed(rest)
        else:
            more = framer.feed(data)
        self._frame_pending(more)

    def _frame_pending(self, more: bool) -> None:
        """Frame what the framer holds, step by step (see the module docstring)."""
        framer = self._framer
        next_step = framer.next_step
        limit = self.ac_in_buffer_limit
        # The hooks are looked up at every step, not bound once: programs swap them (and the
        # terminator) inside found_terminator.
        while more:
            terminator = self.get_terminator()
            try:
                step = next_step(terminator, limit)  # type: ignore[arg-type]
            except InputOverflow:
                self.handle_input_overflow()
                return
            if step is None:
                return
            data, found, more = step
            if data:
                self.collect_incoming_data(data)
            if isinstance(terminator, int) and terminator:
                # The stdlib counts down the attribute, whatever get_terminator returned.
                self.terminator = 0 if found else self.terminator - len(data)  # type: ignore[operator]
            if found:
                self.found_terminator()

    def _frame_whole_messages(self, data: bytes) -> Optional[bytes]:
        """The common case, without the framer: a bytes terminator, nothing pending, no limit.
        Hands out every message ``data`` completes (the same calls the framer would make) and
        returns the rest for the framer: from the first point where the terminator is not
        bytes, or a tail that may begin the terminator. ``None`` if
        ``found_terminator`` replaced the pending input (assigned ``ac_in_buffer``, called
        ``discard_buffers``): the framer holds it now."""
        framer = self._framer
        generation = framer.generation
        pos = 0
        end = len(data)
        try:
            while pos < end:
                terminator = self.terminator
                if type(terminator) is not bytes or not terminator:
                    break
                index = data.find(terminator, pos)
                if index < 0:
                    # No terminator in the rest: it is message data, but for a tail that may
                    # begin one, which waits in the framer for the next read (as the framer
                    # would decide, without searching the rest a second time).
                    stop = end - possible_terminator_start(data, terminator, pos)
                    if stop > pos:
                        self.collect_incoming_data(data[pos:stop] if pos or stop < end else data)
                    return data[stop:]
                if index > pos:
                    self.collect_incoming_data(data[pos:index])
                pos = index + len(terminator)
                self._unframed = (data, pos)  # what ac_in_buffer reads meanwhile
                self.found_terminator()
                if framer.generation != generation:
                    return None
        finally:
            self._unframed = None
        return data[pos:] if pos else data

    def handle_input_overflow(self) -> None:
        """Called when a message grows past ``ac_in_buffer_limit`` without its terminator.

        The excess was not delivered and the input not yet framed has been dropped.  The
        default logs the reason on the ``asyncore_ng`` logger, discards the buffers and calls
        ``handle_close()``.  Override it to answer the peer first, for instance push an error
        and ``close_when_done()``; if the channel stays open, framing starts afresh with the
        next bytes received.
        """
        logger.warning(
            "closing %r: a message exceeded ac_in_buffer_limit (%s bytes) without its terminator",
            self,
            self.ac_in_buffer_limit,
        )
        self.discard_buffers()
        self.handle_close()

    # -- output -----------------------------------------------------------------------------------

    def push(self, data: Buffer) -> None:
        """Queue bytes-like ``data`` and try to send; ``TypeError`` for anything else.

        Data longer than ``ac_out_buffer_size`` is queued as zero-copy views of that size.
        Pushed bytes count toward the flow-control marks (:class:`BufferedOutput`; data
        appended to ``producer_fifo`` directly and producers' output do not).
        """
        fifo = self._producer_fifo
        tried = False
        if not fifo and type(data) is bytes and self._connected and self._direct_push:
            tried = True
            # Nothing queued: hand the data to send() at once, as initiate_send would, and queue
            # only what it leaves. The queue then never fills and empties for a message that
            # goes out whole, so the loop is not told of two interest changes that cancel out.
            head = (
                data if len(data) <= self.ac_out_buffer_size else memoryview(data)[: self.ac_out_buffer_size]
            )
            try:
                sent = self.send(head)
            except OSError:
                self.handle_error()
                return
            if sent >= len(data):
                return
            if sent:
                data = memoryview(data)[sent:]
        fifo.push(data, self.ac_out_buffer_size)
        self._queued_bytes += len(data)
        self._output_grew(self._queued_bytes)
        if not tried:  # (when tried, the socket has just taken all it would)
            self.initiate_send()

    def push_with_producer(self, producer: Union[Producer, Buffer]) -> None:
        """Queue a producer (``more()`` is called until it returns ``b""``) and try to send."""
        self._producer_fifo.append(producer)
        self.initiate_send()

    def close_when_done(self) -> None:
        """Close the channel (``handle_close``) once everything queued before has been sent."""
        self._producer_fifo.append(None)

    def initiate_send(self) -> None:
        """Make one ``send`` of the next queued data, if connected (the rest waits for
        ``handle_write``).  An ``OSError`` from ``send`` goes to ``handle_error``."""
        if not self.connected:
            return
        fifo = self._producer_fifo
        chunk = fifo.next_chunk(self.ac_out_buffer_size, self.encoding if self.use_encoding else None)
        if chunk is None:
            return
        if chunk is CLOSE:
            self._closing_after_flush = True  # the marker itself: close now, whatever follows
            self.handle_close()
            return
        try:
            sent = self.send(chunk)
        except OSError:
            self.handle_error()
            return
        if sent:
            fifo.consume(sent)
            if self._queued_bytes:
                self._queued_bytes = max(0, self._queued_bytes - sent)
                self._output_shrank(self._queued_bytes)

    def discard_buffers(self) -> None:
        """Drop all buffered input and output (emergencies only)."""
        self._framer.reset()
        self._framer.end_message()
        del self.incoming[:]
        self._producer_fifo.clear()
        self._queued_bytes = 0
        self._output_shrank(0)

    # -- dispatcher events ------------------------------------------------------------------------

    def handle_write(self) -> None:
        self.initiate_send()

    def handle_close(self) -> None:
        # End of input with output queued: deliver it, then close (BufferedOutput).
        if self._flush_before_close():
            self._producer_fifo.append(None)
            return
        self.close()

    def _has_queued_output(self) -> bool:
        return bool(self._producer_fifo)

    @state_predicate
    def readable(self) -> bool:
        # Always, as in the stdlib: input is framed as soon as it is read, so there is never a
        # full buffer to stop reading for.  Memory is bounded by ac_in_buffer_limit instead.
        return True

    @state_predicate
    def writable(self) -> bool:
        return bool(self._producer_fifo) or not self.connected
