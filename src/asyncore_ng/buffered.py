"""Channels that queue their output: ``BufferedOutput`` (what they share) and
``DispatcherWithSend`` (asyncore's ``dispatcher_with_send``).

``dispatcher_with_send`` is asyncore's simplest buffered channel, and test suites lean on its
every detail: ``send()`` appends to ``out_buffer`` and calls ``initiate_send()``, which hands
``dispatcher.send`` (the base class's, looked up when called: tests patch it) at most 64 KiB
from the front of the buffer. Both methods can be overridden, ``out_buffer`` can be assigned or
shadowed by a class attribute, the socket can be a fake. All of that behaves as in the stdlib.
What differs is the cost: ``out_buffer`` is a ``bytearray`` consumed from the front, so a large
buffer sent in small pieces costs linear time, not quadratic, and with a real socket the chunk
is handed to the kernel as a view, without a copy.
"""

from __future__ import annotations

import errno
import io
import socket
from typing import Any, List, Optional

from . import errnos
from .dispatcher import AnnouncedState, ChannelMapType, Dispatcher, _get_ident, _library_predicate
from .reactor.core import loop_threads

#: What ``initiate_send`` hands the socket at most, as the stdlib did.
SEND_CHUNK = 65536

#: Corks not in use (see "Corking" in DispatcherWithSend), kept for the next burst: at most
#: _SPARE_CORKS (one per thread that bursts), none that grew past _SPARE_CORK_SIZE (a burst's
#: replies may be far larger than its input: such a buffer is left to be freed).
_spare_corks: List[io.BytesIO] = []
_SPARE_CORKS = 4
_SPARE_CORK_SIZE = 1 << 20


class BufferedOutput(Dispatcher):
    """What channels that queue output share (``DispatcherWithSend``, ``AsyncChat``).

    Flow control, off unless a subclass sets ``ng_write_high_water``: when queued output grows
    past it, :meth:`handle_output_full` is called (once); when it drains to
    ``ng_write_low_water`` (default: a quarter of the high mark) or below,
    :meth:`handle_output_drained`. A proxy overrides them to ``pause_reading()`` /
    ``resume_reading()`` the channel it copies from, so a slow reader cannot grow its memory
    without bound (examples/proxy.py). (The marks carry the ``ng_`` prefix, and the hooks are
    only called once a mark is set, so a program's own attributes of those names keep their
    meaning.)

    End of input with output still queued (the peer shut down its sending side but still
    reads): the default ``handle_close``, called by ``recv`` at end of input, stops reading,
    delivers what is queued, then closes, instead of dropping it. Only then: after an error
    (``handle_error``) or an explicit ``handle_close()`` the channel closes at once, as in the
    stdlib, and so does a second ``handle_close()`` while the output drains (an idle timeout on
    a peer that stopped reading). A peer that goes away meanwhile closes the channel without a
    second ``handle_close``: it ran once already, for this end of input.
    """

    #: Queued bytes above which :meth:`handle_output_full` is called (``None``: no flow control).
    ng_write_high_water: Optional[int] = None
    #: Queued bytes at or below which :meth:`handle_output_drained` is called after it
    #: (``None``: a quarter of the high mark).
    ng_write_low_water: Optional[int] = None

    _ng_output_full = False
    _ng_flushing = False  # closing once the queued output is sent

    def handle_output_full(self) -> None:
        """Queued output went above ``ng_write_high_water``. Override to apply back-pressure."""

    def handle_output_drained(self) -> None:
        """Queued output fell to ``ng_write_low_water`` after being full."""

    def _ng_output_grew(self, queued: int) -> None:
        high = self.ng_write_high_water
        if high is not None and not self._ng_output_full and queued > high:
            self._ng_output_full = True
            self.handle_output_full()

    def _ng_output_shrank(self, queued: int) -> None:
        if self._ng_output_full:
            low = self.ng_write_low_water
            if queued <= (low if low is not None else (self.ng_write_high_water or 0) // 4):
                self._ng_output_full = False
                self.handle_output_drained()

    def _ng_peer_gone(self) -> None:
        # A send or receive found the connection gone. While draining after end of input,
        # handle_close already ran for this channel: close without running it again.
        if self._ng_flushing:
            self.close()
        else:
            self.handle_close()

    def _ng_has_queued_output(self) -> bool:
        raise NotImplementedError

    def _ng_flush_before_close(self) -> bool:
        """Called by the default ``handle_close``: at end of input, with output queued and the
        connection up, stop reading and let the output go first. True if so (the channel then
        closes when it is sent)."""
        if (
            not self._ng_input_ended
            or self._ng_flushing
            or not self.connected
            or not self._ng_has_queued_output()
        ):
            return False
        self._ng_flushing = True
        self._ng_pause_reading()
        return True


class DispatcherWithSend(BufferedOutput):
    """asyncore's ``dispatcher_with_send``: ``send`` buffers what the socket does not take.

    Flow control and flush-before-close: see :class:`BufferedOutput`.
    """

    _ng_announced_state = (*Dispatcher._ng_announced_state, "out_buffer")
    #: The class whose ``send`` ``initiate_send`` calls (the ``asyncore`` shim: its
    #: ``dispatcher``, whose ``send`` tests patch).
    _ng_plain_class: Any = Dispatcher
    _ng_out_announced = False  # whether the loop was last told that output is queued
    _ng_cork: Optional[io.BytesIO] = None  # a burst's replies not yet sent (see "Corking" below)

    def __init__(self, sock: Optional[socket.socket] = None, map: Optional[ChannelMapType] = None):
        # The buffer exists before the channel enters the map: a loop thread woken by that may
        # ask writable() at once.
        self._ng_out = bytearray()
        super().__init__(sock, map)
        self.out_buffer = b""

    def _ng_set_out_buffer(self, value: Any) -> None:
        # Code written for the stdlib assigns bytes (out_buffer = out_buffer + data): keep a
        # bytearray, and tell the loop, since writable() reads it. Anything else (Python 2-era
        # code assigns '') is kept as it is: the stdlib's operations then fail where they did.
        if type(value) is not bytearray:
            if isinstance(value, (bytes, bytearray, memoryview)):
                value = bytearray(value)
            else:
                self._ng_direct_state = False  # (the hot paths expect a bytearray in the slot)
        if self._ng_cork is not None:
            self._ng_cork.seek(0)  # (corked replies are part of out_buffer: replaced with it)
        self._ng_out = value
        self._ng_out_announced = bool(self._ng_out)
        self._ng_announce()

    def _ng_get_out_buffer(self) -> Any:
        cork = self._ng_cork
        if cork is not None and cork.tell():
            # Replies of a burst the program looks at: from now on in out_buffer, after what
            # was there (see "Corking" below).
            with cork.getbuffer() as corked:
                self._ng_out += corked[: cork.tell()]
            cork.seek(0)
        return self._ng_out

    out_buffer = AnnouncedState(_ng_get_out_buffer, _ng_set_out_buffer, None, "Output not sent yet.")

    def _ng_has_queued_output(self) -> bool:
        return len(self.out_buffer) > 0

    def _ng_queue_changed(self, buf: bytearray) -> None:
        queued = bool(buf)
        if queued != self._ng_out_announced:
            self._ng_out_announced = queued
            self._ng_announce()
        if not queued and self._ng_flushing:
            self.close()

    def _ng_direct(self, buf: Any) -> bool:
        """Whether ``initiate_send`` may be done here, without copies: the buffer is ours, the
        socket is a real one, and neither ``initiate_send`` nor ``dispatcher.send`` was replaced
        (a fake socket, an override or a patched ``dispatcher.send`` sees the stdlib's calls)."""
        return (
            type(buf) is bytearray
            and type(self.socket) is socket.socket
            and type(self).initiate_send is _INITIATE_SEND
            and self._ng_plain_class.send is _PLAIN_SEND
        )

    def _ng_sent(self, buf: bytearray, num_sent: int) -> None:
        # After a system call that took ``num_sent`` bytes (-1: the peer is gone) from the front.
        if num_sent < 0:
            if not self._ng_closed_elsewhere():
                self._ng_peer_gone()
            return
        if num_sent:
            del buf[:num_sent]
            if self._ng_idle_timeout is not None:
                self._ng_note_activity()
            if self._ng_output_full:
                self._ng_output_shrank(len(buf))
        self._ng_queue_changed(buf)

    def initiate_send(self) -> None:
        if self._ng_from_other_thread():
            self._ng_hand_over(DispatcherWithSend.initiate_send)
            return
        buf = self.out_buffer
        if self._ng_direct(buf):
            # What the stdlib did, without copying: the chunk goes to the kernel as a view of the
            # buffer (released before the buffer is resized: _kernel_send handles no error by
            # calling into user code while the view exists).
            if len(buf) <= SEND_CHUNK:
                num_sent = _kernel_send(self.socket, buf)
            else:
                with memoryview(buf) as view, view[:SEND_CHUNK] as head:
                    num_sent = _kernel_send(self.socket, head)
            self._ng_sent(buf, num_sent)
            return
        # Exactly the stdlib's call: a fake socket or a patched dispatcher.send sees bytes.
        chunk = buf[:SEND_CHUNK]
        num_sent = self._ng_plain_class.send(self, bytes(chunk) if type(chunk) is bytearray else chunk)
        buf = self.out_buffer
        if type(buf) is bytearray and type(num_sent) is int and num_sent >= 0:
            self._ng_sent(buf, num_sent)
        else:
            self.out_buffer = buf[num_sent:]  # the stdlib's arithmetic (None, -1...) and errors

    def handle_write(self) -> None:
        self.initiate_send()

    # Corking (see "Bursts" in asyncore_ng.loop). Replies made during a burst of handle_read
    # calls are part of out_buffer, in the order made whatever their type, and go out in one
    # system call when the burst ends (whatever the kernel does not take stays at the front of
    # out_buffer, as a refused send's rest would). Until then they are copied into a cork (an
    # io.BytesIO kept from one burst to the next: _spare_corks), or into out_buffer once the
    # program reads it. Why a copy: keeping the replies themselves (32 of 8 KiB for one read
    # ahead) frees them together when the burst ends, beside the input they were cut from;
    # glibc may then give the top of its heap back to the kernel and take it again for the next
    # read, with a page fault for every 4 KiB, which doubled the CPU time of a stream
    # (benchmarks/RESULTS.md, S5). A copy into the same warm buffer costs far less, and each
    # reply is freed as soon as the program drops it. Why not out_buffer itself: a bytearray
    # emptied from the front shrinks to nothing, and appending to it reallocates as it grows
    # again. Only on a real socket, with neither initiate_send nor dispatcher.send replaced (the
    # direct path of send()); initiate_send() called meanwhile sends out_buffer at once, as it
    # always does.

    def _ng_cork_output(self) -> None:
        if self._ng_cork is None and self._ng_direct(self._ng_out):
            try:
                self._ng_cork = _spare_corks.pop()
            except IndexError:
                self._ng_cork = io.BytesIO()

    def _ng_uncork_output(self) -> None:
        cork = self._ng_cork
        if cork is None:
            return
        self._ng_cork = None
        corked = cork.tell()
        buf = self._ng_out
        if corked or buf:
            with cork.getbuffer() as view, view[:corked] as replies:
                self._ng_send_corked(buf, replies)
        if len(_spare_corks) < _SPARE_CORKS and cork.seek(0, io.SEEK_END) <= _SPARE_CORK_SIZE:
            cork.seek(0)
            _spare_corks.append(cork)

    def _ng_send_corked(self, buf: bytearray, replies: memoryview) -> None:
        # The replies go out after what out_buffer holds, in one system call (gathered: what it
        # takes of them is never copied again); whatever it leaves is queued in out_buffer.
        queued = len(buf)
        try:
            num_sent = self.socket.sendmsg([buf, replies]) if queued else self.socket.send(replies)
        except OSError as why:
            num_sent = _send_failed(why)
        if num_sent > queued:
            if self._ng_idle_timeout is not None:
                self._ng_note_activity()
            if num_sent - queued < len(replies):
                buf += replies[num_sent - queued :]
            num_sent = queued
        else:  # (-1, the peer gone: a disconnect finds them queued, as in send())
            buf += replies
        if len(buf) > queued and self.ng_write_high_water is not None:
            self._ng_output_grew(len(buf))
        if num_sent or len(buf) != queued:
            self._ng_sent(buf, num_sent)

    def close(self) -> None:
        if self._ng_handoff and self._ng_close_waits(DispatcherWithSend.close):
            return
        self._ng_uncork_output()  # replies the program made before closing go out first
        super().close()

    @_library_predicate
    def writable(self) -> Any:
        return (not self.connected) or len(self.out_buffer)

    def send(self, data: Any) -> None:  # type: ignore[override]
        if self.debug:
            self.log_info("sending %s" % repr(data))  # noqa: UP031 (the stdlib's format)
        if loop_threads.sole != _get_ident() and self._ng_in_other_thread():
            # Another thread must not touch the buffer while the loop's thread sends from it:
            # the loop's thread queues the data, in order (see Dispatcher._ng_hand_over).
            # (_ng_from_other_thread, inlined: this is the hottest call of an echo.)
            self._ng_hand_over(DispatcherWithSend.send, data if type(data) is bytes else bytes(data))
            return
        cork = self._ng_cork
        # (With _ng_direct_state the slot behind out_buffer holds a bytearray: see the setter.)
        direct = self._ng_direct_state
        if cork is not None and direct and (type(data) is bytes or isinstance(data, (bytearray, memoryview))):
            # During a burst: corked, sent with the burst's other replies (_ng_uncork_output,
            # which tells the loop what is left: an announcement now would end the burst).
            try:
                cork.write(data)
            except BufferError:  # (a strided view)
                cork.write(bytes(data))
            if self.ng_write_high_water is not None:
                self._ng_output_grew(len(self._ng_out) + cork.tell())
            return
        buf = self._ng_out if direct else self.out_buffer
        if (
            direct
            and not buf
            and type(data) is bytes
            and cork is None
            and type(self.socket) is _SOCKET
            and type(self).initiate_send is _INITIATE_SEND
            and self._ng_plain_class.send is _PLAIN_SEND
        ):
            # Nothing queued, and initiate_send would make the system call (_ng_direct, inlined:
            # this is the hottest call of an echo): make it on the data itself, and queue only
            # what the kernel leaves (a reply that goes out whole never touches the buffer, nor
            # tells the loop of two interest changes that cancel out).
            size = len(data)
            try:
                num_sent = self.socket.send(data if size <= SEND_CHUNK else memoryview(data)[:SEND_CHUNK])
            except OSError as why:
                num_sent = _send_failed(why)
            if num_sent == size:
                if self._ng_idle_timeout is not None:
                    self._ng_note_activity()
                return
            buf += data  # (a disconnect then finds it queued, as the stdlib's handle_close did)
            if self.ng_write_high_water is not None:
                self._ng_output_grew(len(buf))
            self._ng_sent(buf, num_sent)
            return
        if type(buf) is not bytearray or not isinstance(data, (bytes, bytearray, memoryview)):
            self.out_buffer = buf + data  # the stdlib's concatenation: its result and its errors
            self.initiate_send()
            return
        buf += data
        if self.ng_write_high_water is not None:
            self._ng_output_grew(len(buf))
        self.initiate_send()

    def handle_close(self) -> None:
        if not self._ng_flush_before_close():
            super().handle_close()


def _kernel_send(sock: socket.socket, chunk: Any) -> int:
    """``sock.send(chunk)`` as ``dispatcher.send`` judged it: the bytes taken, 0 when the socket
    is full, -1 when the peer is gone; any other error propagates (to handle_error)."""
    try:
        return sock.send(chunk)
    except OSError as why:
        return _send_failed(why)


def _send_failed(why: OSError) -> int:
    if why.errno == errno.EWOULDBLOCK:
        return 0
    if why.errno in errnos.DISCONNECTED:
        return -1
    raise why


_PLAIN_SEND = Dispatcher.send
_INITIATE_SEND = DispatcherWithSend.initiate_send
_SOCKET = socket.socket
