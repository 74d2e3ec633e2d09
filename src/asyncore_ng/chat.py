"""``AsyncChat``: asynchat's ``async_chat`` on the engine, as a thin adapter over pure parts.

Input goes through :class:`~asyncore_ng.framing.InputFramer` (terminator scanning, linear in the
bytes received), output through :class:`~asyncore_ng.producers.OutputQueue` (zero-copy slices,
producers drained with ``more()``). This module connects them to the socket and to the
documented hooks, and makes the stdlib's calls in the stdlib's order: for every framing step,
``get_terminator()``, then ``collect_incoming_data`` with the data, then the byte-count update,
then ``found_terminator``. Every hook is looked up at each call, so hooks replaced on the
instance, or inside ``found_terminator``, take effect at once, as they did. ``ac_in_buffer`` reads
as the stdlib's would at that moment (inside ``collect_incoming_data`` it still holds the data
being collected), assigning it replaces the pending input, and an exception in a hook leaves
the rest of the input pending for the next read, exactly as the stdlib's buffer did.

Interest. ``readable()`` is always true and ``writable()`` is "something queued, or not yet
connected". Both are the library's state predicates, so the loop does not ask an idle chat
channel every pass. That is only correct if every change of the ``writable()`` answer is
announced: the output queue reports each time it fills or empties, whoever changed it (``push``
from another channel's handler, or code appending to ``producer_fifo`` directly), and the
dispatcher announces changes of ``connected``. A subclass that overrides either predicate
without the decorator is asked every pass, as in the stdlib.

Input limit. ``ng_in_buffer_limit`` (default ``None``: unlimited, as in the stdlib) caps the
length of one message: the bytes handed to ``collect_incoming_data`` since the last
``found_terminator``. A message that would exceed it is not delivered past the limit;
``handle_input_overflow()`` runs instead, and by default logs why and closes the channel. The cap
applies to every kind of terminator: with ``None`` the whole stream is one message.
"""

from __future__ import annotations

import logging
import socket
from collections import deque
from operator import attrgetter
from typing import Any, Iterable, List, Optional, Union

from .buffered import BufferedOutput
from .dispatcher import (
    AnnouncedState,
    ChannelMapType,
    Dispatcher,
    _get_ident,
    _library_predicate,
    weak_callback,
)
from .framing import InputFramer, InputOverflow
from .producers import CLOSE, Buffer, Entry, OutputQueue, Producer
from .reactor.core import loop_threads

__all__ = ["AsyncChat"]

logger = logging.getLogger("asyncore_ng")

#: What ``set_terminator`` accepts (``str`` only with ``use_encoding``).
TerminatorArg = Union[bytes, bytearray, str, int, None]


def _missing(channel: Any, name: str) -> AttributeError:
    # What the stdlib raised for an attribute its __init__ had not set (a class initialised
    # through dispatcher.__init__ only).
    return AttributeError(f"{type(channel).__name__!r} object has no attribute {name!r}")


class AsyncChat(BufferedOutput):
    """The engine's ``asynchat.async_chat``; see the asynchat documentation for each member.

    Subclass it and define ``collect_incoming_data`` and ``found_terminator``. Extras beyond the
    stdlib: :attr:`ng_in_buffer_limit` and :meth:`handle_input_overflow`. ``push`` from another
    thread while the loop runs is handed to the loop's thread (in order).
    """

    #: Most bytes read by one ``recv``.
    ac_in_buffer_size = 65536
    #: Most bytes handed to one ``send``; larger pushes are queued as views of this size.
    ac_out_buffer_size = 65536
    #: Most bytes one message may reach without its terminator (``None``: no limit).
    ng_in_buffer_limit: Optional[int] = None

    # Encoding str terminators and str output is opt-in, as in the stdlib: mixing str and bytes
    # is usually a bug that should not pass silently.
    use_encoding = 0
    encoding = "latin-1"

    #: The current terminator; set it with ``set_terminator``. Not set until then (reading data
    #: before a terminator is chosen fails, as in the stdlib).
    terminator: Union[bytes, bytearray, str, int, None]

    _ng_announced_state = (*Dispatcher._ng_announced_state, "producer_fifo")
    _ng_framer: Optional[InputFramer] = None
    _ng_fifo: OutputQueue  # set by __init__ or an assignment of producer_fifo
    _ng_queued_bytes = 0  # bytes pushed and not yet sent (for the flow-control marks)

    def __init__(self, sock: Optional[socket.socket] = None, map: Optional[ChannelMapType] = None) -> None:
        # Buffers first: the dispatcher registers the channel, after which it may be asked.
        self.ac_in_buffer = b""
        self.incoming: List[bytes] = []
        self.producer_fifo = deque()
        super().__init__(sock, map)

    # -- buffers as the stdlib exposed them -----------------------------------------------------

    def _ng_set_fifo(self, entries: Iterable[Entry]) -> None:
        if not isinstance(entries, OutputQueue):
            entries = OutputQueue(entries)
        entries.on_change = weak_callback(self, "_ng_announce")
        self._ng_fifo = entries
        self._ng_announce()

    producer_fifo = AnnouncedState(
        attrgetter("_ng_fifo"),  # (C-level; a class never initialised has none: AttributeError)
        _ng_set_fifo,
        None,
        """The output queue: a ``collections.deque`` subclass; append to it freely. Assigning
        another iterable (a plain ``deque``, say) stores its items in a new output queue, since
        the channel must hear of later changes.""",
    )

    def _ng_framer_now(self) -> InputFramer:
        framer = self._ng_framer
        if framer is None:
            framer = self._ng_framer = InputFramer()
        return framer

    @property
    def ac_in_buffer(self) -> bytes:
        """Received bytes not yet handed to ``collect_incoming_data`` (a copy): between reads
        at most a possible beginning of the terminator; inside ``collect_incoming_data``, as
        in the stdlib, the data being collected and what follows. Assigning replaces them
        (``b""`` discards them), also from inside the hooks."""
        framer = self._ng_framer
        if framer is None:
            raise _missing(self, "ac_in_buffer")
        return framer.pending

    @ac_in_buffer.setter
    def ac_in_buffer(self, data: Buffer) -> None:
        self._ng_framer_now().reset(data)

    # -- the two methods a subclass defines -----------------------------------------------------

    def collect_incoming_data(self, data: bytes) -> None:
        """Called with message data as it arrives; ``data`` is never empty."""
        raise NotImplementedError("must be implemented in subclass")

    def _collect_incoming_data(self, data: bytes) -> None:
        """A ready-made ``collect_incoming_data``: append to ``self.incoming``."""
        self.incoming.append(data)

    def _get_data(self) -> bytes:
        """Join and clear what ``_collect_incoming_data`` gathered."""
        d = b"".join(self.incoming)
        del self.incoming[:]
        return d

    def found_terminator(self) -> None:
        """Called when the current message is complete (its terminator has been consumed)."""
        raise NotImplementedError("must be implemented in subclass")

    # -- terminators ----------------------------------------------------------------------------

    def set_terminator(self, term: TerminatorArg) -> None:
        """Set the input delimiter: bytes of any length, a byte count, or ``None`` (none).

        A ``str`` is encoded with ``encoding`` when ``use_encoding`` is set. A negative count
        raises ``ValueError``. The new terminator applies to input already received.
        """
        if isinstance(term, str) and self.use_encoding:
            term = bytes(term, self.encoding)
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
        if type(data) is not bytes:
            if isinstance(data, str) and self.use_encoding:
                data = data.encode(self.encoding)
            elif not isinstance(data, (bytearray, memoryview, bytes)):
                data = b"" + data  # the stdlib's concatenation: its TypeError (None, an int...)
        framer = self._ng_framer
        if framer is None:
            framer = self._ng_framer_now()
        try:
            framer.deliver(self, data, self.ng_in_buffer_limit)
        except InputOverflow:
            self.handle_input_overflow()

    def handle_input_overflow(self) -> None:
        """Called when a message grows past ``ng_in_buffer_limit`` without its terminator.

        The excess was not delivered and the input not yet framed has been dropped. The
        default logs the reason on the ``asyncore_ng`` logger, discards the buffers and calls
        ``handle_close()``. Override it to answer the peer first, for instance push an error
        and ``close_when_done()``; if the channel stays open, framing starts afresh with the
        next bytes received.
        """
        logger.warning(
            "closing %r: a message exceeded ng_in_buffer_limit (%s bytes) without its terminator",
            self,
            self.ng_in_buffer_limit,
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
        plain = type(data) is bytes
        if not plain and not isinstance(data, (bytearray, memoryview)):
            raise TypeError("data argument must be byte-ish (%r)", type(data))
        if loop_threads.sole != _get_ident() and self._ng_in_other_thread():
            # (as dispatcher_with_send.send: the loop's thread queues it, in order)
            self._ng_hand_over(AsyncChat.push, data if plain else bytes(data))
            return
        if self._ng_direct_state:  # (the slots behind producer_fifo and connected: see there)
            fifo = self._ng_fifo
            connected = self._ng_connected
        else:
            fifo = self.producer_fifo
            connected = self.connected
        if plain and connected and not fifo and type(self).initiate_send is _INITIATE_SEND:
            # Nothing queued: make initiate_send's one send() now and queue only what it leaves,
            # so a message that goes out whole never fills and empties the queue (two interest
            # changes that cancel out).
            size = self.ac_out_buffer_size
            length = len(data)
            try:
                sent = self.send(data if length <= size else memoryview(data)[:size])
            except OSError:
                self.handle_error()
                return
            if sent == length:
                return
            if type(sent) is not int or sent < 0:
                # No byte count (a stand-in socket): queued, and the stdlib's arithmetic applies.
                self._ng_enqueue(fifo, data)
                fifo.consume(sent, size)
                return
            if sent >= len(data):
                return
            if sent:
                data = memoryview(data)[sent:]
            self._ng_enqueue(fifo, data)
            return
        self._ng_enqueue(fifo, data)
        self.initiate_send()

    def _ng_enqueue(self, fifo: OutputQueue, data: Buffer) -> None:
        fifo.push(data, self.ac_out_buffer_size)
        self._ng_queued_bytes += len(data)
        self._ng_output_grew(self._ng_queued_bytes)

    def push_with_producer(self, producer: Union[Producer, Buffer]) -> None:
        """Queue a producer (``more()`` is called until it returns ``b""``) and try to send."""
        if self._ng_from_other_thread():
            self._ng_hand_over(AsyncChat.push_with_producer, producer)
            return
        self.producer_fifo.append(producer)
        self.initiate_send()

    def close_when_done(self) -> None:
        """Close the channel (``handle_close``) once everything queued before has been sent."""
        if self._ng_from_other_thread():
            self._ng_hand_over(AsyncChat.close_when_done)
            return
        self.producer_fifo.append(None)

    def initiate_send(self) -> None:
        """Make one ``send`` of the next queued data, if connected (the rest waits for
        ``handle_write``). An ``OSError`` from ``send`` goes to ``handle_error``."""
        if self._ng_from_other_thread():
            self._ng_hand_over(AsyncChat.initiate_send)
            return
        fifo = self.producer_fifo
        if not (fifo and self.connected):
            return
        chunk = fifo.next_chunk(self.ac_out_buffer_size, self.encoding if self.use_encoding else None)
        if chunk is None:
            return
        if chunk is CLOSE:
            self._ng_flushing = True  # the marker itself: close now, whatever follows
            self.handle_close()
            return
        try:
            sent = self.send(chunk)
        except OSError:
            self.handle_error()
            return
        if type(sent) is not int or sent < 0:
            fifo.consume(sent, self.ac_out_buffer_size)  # (no byte count: see consume)
        elif sent:
            fifo.consume(sent, self.ac_out_buffer_size)
            if self._ng_queued_bytes:
                self._ng_queued_bytes = max(0, self._ng_queued_bytes - sent)
                self._ng_output_shrank(self._ng_queued_bytes)
            if not fifo and self._ng_flushing:
                self.close()

    def discard_buffers(self) -> None:
        """Drop all buffered input and output (emergencies only)."""
        if self._ng_from_other_thread():
            self._ng_hand_over(AsyncChat.discard_buffers)
            return
        framer = self._ng_framer_now()
        framer.reset()
        framer.end_message()
        del self.incoming[:]
        self.producer_fifo.clear()
        self._ng_queued_bytes = 0
        self._ng_output_shrank(0)

    # -- dispatcher events ------------------------------------------------------------------------

    def handle_write(self) -> None:
        self.initiate_send()

    def handle_close(self) -> None:
        # End of input with output queued: deliver it, then close (BufferedOutput).
        if not self._ng_flush_before_close():
            self.close()

    def _ng_has_queued_output(self) -> bool:
        return bool(self.producer_fifo)

    @_library_predicate
    def readable(self) -> Any:
        # Always, as in the stdlib: input is framed as soon as it is read, so there is never a
        # full buffer to stop reading for. Memory is bounded by ng_in_buffer_limit instead.
        return 1

    @_library_predicate
    def writable(self) -> Any:
        return self.producer_fifo or (not self.connected)


_INITIATE_SEND = AsyncChat.initiate_send
