"""Channels: ``Dispatcher`` (asyncore's ``dispatcher``), ``DispatcherWithSend``, file channels.

A dispatcher wraps a non-blocking socket and turns readiness into ``handle_*`` calls exactly as
asyncore documents. The public names, attributes and call order are the stdlib's; what differs
is underneath:

* Interest is not rebuilt every pass. The loop asks ``readable()``/``writable()`` only of
  channels whose answer may have changed: those just dispatched, those that said so through
  :meth:`Dispatcher.interest_changed`, and every pass those whose class overrides a predicate
  without marking it :func:`state_predicate` (such code may depend on anything, so it is asked
  as the stdlib asks: that is exact, and costs only for those classes).
* The library's own predicates are marked ``state_predicate``; the library methods that change
  their answer (``listen``, ``connect``, ``send``...) call ``interest_changed()``.
* ``DispatcherWithSend`` keeps its output in a ``bytearray`` consumed from the front, so
  buffering is linear however data is sent.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import sys
import warnings
from errno import errorcode
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Tuple, TypeVar

from . import errnos
from .reactor import Reactor, TimerHandle

if TYPE_CHECKING:
    from .channels import _Entry

ChannelMapType = Dict[int, Any]
F = TypeVar("F", bound=Callable[..., Any])

_STATE_PREDICATE = "_asyncore_ng_state_predicate"


def state_predicate(func: F) -> F:
    """Mark a ``readable``/``writable`` override whose answer changes only when the channel
    calls ``self.interest_changed()`` (or inside its own handlers).

    The loop then stops asking it every pass, so an idle channel costs nothing. Unmarked
    overrides keep the stdlib contract: asked on every pass.
    """
    setattr(func, _STATE_PREDICATE, True)
    return func


def predicates_are_stateful(cls: type) -> bool:
    """Whether both predicates of ``cls`` are marked :func:`state_predicate`."""
    readable = getattr(cls, "readable", None)
    writable = getattr(cls, "writable", None)
    return getattr(readable, _STATE_PREDICATE, False) and getattr(writable, _STATE_PREDICATE, False)


def strerror(err: int) -> str:
    """``os.strerror`` that never fails (the stdlib's ``_strerror``)."""
    try:
        return os.strerror(err)
    except (ValueError, OverflowError, NameError):
        if err in errorcode:
            return errorcode[err]
        return f"Unknown error {err}"


def compact_traceback() -> Tuple[Tuple[str, str, str], Any, Any, str]:
    """The exception being handled, as ``((file, function, line), type, value, info)`` where
    ``info`` is ``"[file|function|line] ..."`` for every frame, innermost last."""
    t, v, tb = sys.exc_info()
    if tb is None:
        raise AssertionError("compact_traceback() called with no exception being handled")
    frames = []
    while tb is not None:
        code = tb.tb_frame.f_code
        frames.append((code.co_filename, code.co_name, str(tb.tb_lineno)))
        tb = tb.tb_next
    info = " ".join(f"[{f}|{fn}|{ln}]" for f, fn, ln in frames)
    return frames[-1], t, v, info


def _set_reuseport(sock: Any) -> None:
    """SO_REUSEPORT on a TCP socket (AF_INET/AF_INET6, SOCK_STREAM), where the platform has it."""
    tcp = sock.type == socket.SOCK_STREAM and sock.family in (socket.AF_INET, socket.AF_INET6)
    try:
        if tcp and hasattr(socket, "SO_REUSEPORT"):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    except OSError:
        pass


_logger = logging.getLogger("asyncore_ng")

_LOG_LEVELS = {"error": logging.ERROR, "warning": logging.WARNING, "info": logging.INFO}


class Dispatcher:
    """The engine's asyncore ``dispatcher``; see the asyncore documentation for each member.

    Extras beyond the stdlib: :meth:`interest_changed`, :attr:`reactor`, :meth:`call_later`,
    :meth:`call_at`, :meth:`call_soon`, :meth:`pause_reading`/:meth:`resume_reading`,
    :meth:`set_idle_timeout`/:meth:`handle_idle_timeout`, the listener's back-off on descriptor
    exhaustion (``accept_backoff_initial``/``accept_backoff_max``), and :attr:`logger` (when
    set, ``log_info`` goes to it instead of standard output).
    """

    debug = False
    connecting = False
    closing = False
    addr: Any = None
    ignore_log_types = frozenset({"warning"})
    #: When set, ``log_info`` logs here (at the level named by its type) instead of printing.
    logger: Optional[logging.Logger] = None

    socket: Any
    _fileno: Optional[int]
    _entry: Optional[_Entry] = None  # set by the loop while the channel is in a bound map
    _reading_paused = False
    _idle_timeout: Optional[float] = None
    _idle_timer: Optional[TimerHandle] = None
    _last_activity = 0.0
    _accept_delay = 0.0
    _accept_timer: Optional[TimerHandle] = None

    #: Back-off of a listener whose ``accept()`` fails for lack of descriptors (EMFILE, ENFILE,
    #: ENOBUFS, ENOMEM): it stops being watched for this long, doubling up to the maximum, and
    #: is watched again as soon as any channel of its map closes.
    accept_backoff_initial = 0.05
    accept_backoff_max = 1.0

    # ``connected`` and ``accepting`` feed the library's predicates (and the loop's "accepting
    # sockets are never watched for writing"), so assigning them, from anywhere, tells the loop.
    # Reads go through a C-level getter; only assignments run Python code.
    _connected = False
    _accepting = False

    def _set_connected(self, value: bool) -> None:
        if value != self._connected:
            self._connected = value
            self.interest_changed()

    def _set_accepting(self, value: bool) -> None:
        if value != self._accepting:
            self._accepting = value
            self.interest_changed()

    connected = property(attrgetter("_connected"), _set_connected)
    accepting = property(attrgetter("_accepting"), _set_accepting)

    def __init__(self, sock: Optional[socket.socket] = None, map: Optional[ChannelMapType] = None):
        self._map = self._default_map() if map is None else map
        self._fileno = None
        if sock:
            sock.setblocking(False)
            self.set_socket(sock, map)
            self.connected = True
            try:
                self.addr = sock.getpeername()
            except OSError as err:
                if err.errno in errnos.NOT_CONNECTED_YET:
                    self.connected = False
                else:
                    self.del_channel(map)
                    raise
        else:
            self.socket = None

    def _default_map(self) -> ChannelMapType:
        """The map used when none is given. The ``asyncore`` shim overrides it to read its
        module's ``socket_map`` at call time (code rebinds ``asyncore.socket_map``)."""
        from .channels import socket_map

        return socket_map

    def __repr__(self) -> str:
        cls = self.__class__
        status = [f"{cls.__module__}.{cls.__qualname__}"]
        if self.accepting and self.addr:
            status.append("listening")
        elif self.connected:
            status.append("connected")
        if self.addr is not None:
            try:
                status.append("%s:%d" % self.addr)  # noqa: UP031 (the stdlib's exact format)
            except TypeError:
                status.append(repr(self.addr))
        return "<{} at {:#x}>".format(" ".join(status), id(self))

    # -- the map -----------------------------------------------------------------------

    def add_channel(self, map: Optional[ChannelMapType] = None) -> None:
        if map is None:
            map = self._map
        map[self._fileno] = self  # type: ignore[index]
        from .channels import channel_added

        channel_added(map, self)

    def del_channel(self, map: Optional[ChannelMapType] = None) -> None:
        fd = self._fileno
        if map is None:
            map = self._map
        if fd in map:
            del map[fd]
        # Unregister from the kernel now, before the caller closes the socket.
        entry = self._entry
        if entry is not None:
            entry.binding.forget(entry)
        self._fileno = None

    def interest_changed(self) -> None:
        """Tell the loop that ``readable()`` or ``writable()`` may now answer differently.

        Needed only for predicates marked :func:`state_predicate`, and only for changes made
        outside this channel's own handlers. Cheap; safe from other threads (wakes the loop).
        """
        entry = self._entry
        if entry is not None:
            entry.binding.mark(entry)

    @property
    def reactor(self) -> Reactor:
        """The reactor that drives this channel's map (created on first use)."""
        from .channels import bind

        return bind(self._map).reactor

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> TimerHandle:
        """Run ``callback(*args)`` in ``delay`` seconds on this channel's reactor. An exception
        in it goes to the reactor's exception handler; cancel with ``handle.cancel()``."""
        return self.reactor.call_later(delay, callback, *args)

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any) -> TimerHandle:
        """Run ``callback(*args)`` when ``self.reactor.time()`` reaches ``when``."""
        return self.reactor.call_at(when, callback, *args)

    def call_soon(self, callback: Callable[..., Any], *args: Any) -> None:
        """Run ``callback(*args)`` at the end of the current (or next) loop pass."""
        self.reactor.call_soon(callback, *args)

    # -- flow control and timeouts (beyond the stdlib) -----------------------------------

    def pause_reading(self) -> None:
        """Stop watching this channel for input until :meth:`resume_reading`, whatever
        ``readable()`` answers (it is still asked, so per-pass ticks keep running)."""
        if not self._reading_paused:
            self._reading_paused = True
            self.interest_changed()

    def resume_reading(self) -> None:
        """Undo :meth:`pause_reading`."""
        if self._reading_paused:
            self._reading_paused = False
            self.interest_changed()

    @property
    def reading_paused(self) -> bool:
        return self._reading_paused

    def set_idle_timeout(self, seconds: Optional[float]) -> None:
        """Call :meth:`handle_idle_timeout` when no data has been received or sent for
        ``seconds`` (``None`` turns it off). Costs one timer per channel, re-armed lazily: data
        moving only updates a timestamp."""
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        self._idle_timeout = seconds
        if seconds is not None:
            if seconds <= 0:
                raise ValueError(f"idle timeout must be positive, got {seconds!r}")
            reactor = self.reactor
            self._last_activity = reactor.time()
            self._idle_timer = reactor.call_later(seconds, self._check_idle)

    def _note_activity(self) -> None:
        entry = self._entry
        self._last_activity = entry.binding.reactor.pass_time if entry is not None else self.reactor.time()

    def _check_idle(self) -> None:
        self._idle_timer = None
        timeout = self._idle_timeout
        if timeout is None or self.socket is None or self._fileno is None:
            return
        reactor = self.reactor
        due = self._last_activity + timeout
        if reactor.time() >= due:
            self.handle_idle_timeout()
        else:
            self._idle_timer = reactor.call_at(due, self._check_idle)

    def handle_idle_timeout(self) -> None:
        """Called when the idle timeout expires. The default logs the reason to the
        ``asyncore_ng`` logger and calls ``handle_close()``."""
        _logger.info("closing %r: idle for %ss", self, self._idle_timeout)
        self.handle_close()

    # -- socket operations ---------------------------------------------------------------

    def create_socket(self, family: int = socket.AF_INET, type: int = socket.SOCK_STREAM) -> None:
        self.family_and_type = family, type
        sock = socket.socket(family, type)
        sock.setblocking(False)
        self.set_socket(sock)

    def set_socket(self, sock: Any, map: Optional[ChannelMapType] = None) -> None:
        self.socket = sock
        self._fileno = sock.fileno()
        self.add_channel(map)

    def set_reuse_addr(self) -> None:
        try:
            sock = self.socket
            current = sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, current | 1)
        except OSError:
            pass

    @state_predicate
    def readable(self) -> bool:
        return True

    @state_predicate
    def writable(self) -> bool:
        return True

    def listen(self, num: int = socket.SOMAXCONN) -> None:
        self.accepting = True
        return self.socket.listen(num)  # type: ignore[no-any-return]

    def bind(self, addr: Any) -> None:
        self.addr = addr
        # -- `asyncore-ng ... --workers N` (asyncore_ng.workers): the workers share the port --
        if os.environ.get("ASYNCORE_NG_REUSEPORT") == "1":
            _set_reuseport(self.socket)
        # --
        return self.socket.bind(addr)  # type: ignore[no-any-return]

    def connect(self, address: Any) -> None:
        self.connected = False
        self.connecting = True
        err = self.socket.connect_ex(address)
        if err in errnos.CONNECT_PENDING or (err == errno.EINVAL and os.name == "nt"):
            self.addr = address
            return
        if err in errnos.CONNECT_DONE:
            self.addr = address
            self.handle_connect_event()
        else:
            raise OSError(err, errorcode.get(err, strerror(err)))

    def accept(self) -> Optional[Tuple[socket.socket, Any]]:
        try:
            conn, addr = self.socket.accept()
        except TypeError:
            return None
        except OSError as why:
            if why.errno in errnos.ACCEPT_NOTHING:
                return None
            if why.errno in errnos.DESCRIPTOR_EXHAUSTION:
                # Retrying at once cannot succeed and would spin: back off (see the class notes)
                # while established channels go on being served. The connection stays queued.
                self._back_off_accepting(why)
                return None
            raise
        if self._accept_delay:
            self._accept_delay = 0.0
        return conn, addr

    def _back_off_accepting(self, why: OSError) -> None:
        first = not self._accept_delay
        self._accept_delay = delay = min(
            max(self._accept_delay * 2, self.accept_backoff_initial), self.accept_backoff_max
        )
        if first:
            _logger.warning("%r: accept() failed (%s); pausing accepts for %.2fs", self, why, delay)
        self.pause_reading()
        if self._accept_timer is not None:
            self._accept_timer.cancel()
        self._accept_timer = self.call_later(delay, self._resume_accepting)
        entry = self._entry
        if entry is not None:
            entry.binding.resume_on_close(self)

    def _resume_accepting(self) -> None:
        if self._accept_timer is not None:
            self._accept_timer.cancel()
            self._accept_timer = None
        if self.accepting:
            self.resume_reading()

    def send(self, data: Any) -> int:
        try:
            sent: int = self.socket.send(data)
        except BlockingIOError:
            return 0
        except OSError as why:
            if why.errno in errnos.DISCONNECTED:
                self.handle_close()
                return 0
            raise
        if self._idle_timeout is not None and sent:
            self._note_activity()
        return sent

    def recv(self, buffer_size: int) -> bytes:
        try:
            data: bytes = self.socket.recv(buffer_size)
        except OSError as why:
            if why.errno in errnos.DISCONNECTED:
                self.handle_close()
                return b""
            raise
        if not data:
            self.handle_close()
        elif self._idle_timeout is not None:
            self._note_activity()
        return data

    def close(self) -> None:
        self.connected = False
        self.accepting = False
        self.connecting = False
        for timer in (self._idle_timer, self._accept_timer):
            if timer is not None:
                timer.cancel()
        self._idle_timer = self._accept_timer = None
        self.del_channel()
        if self.socket is not None:
            try:
                self.socket.close()
            except OSError as why:
                if why.errno not in errnos.CLOSE_IGNORED:
                    raise

    # -- logging -------------------------------------------------------------------------

    def log(self, message: Any) -> None:
        sys.stderr.write(f"log: {message!s}\n")

    def log_info(self, message: str, type: str = "info") -> None:
        if type in self.ignore_log_types:
            return
        if self.logger is not None:
            self.logger.log(_LOG_LEVELS.get(type, logging.INFO), "%s", message)
        else:
            print(f"{type}: {message}")

    # -- events --------------------------------------------------------------------------

    def handle_read_event(self) -> None:
        if self.accepting:
            # Accepting sockets never connect: readiness means a connection to accept.
            self.handle_accept()
        elif not self.connected:
            if self.connecting:
                self.handle_connect_event()
            self.handle_read()
        else:
            self.handle_read()

    def handle_connect_event(self) -> None:
        err = self.socket.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err != 0:
            raise OSError(err, strerror(err))
        self.handle_connect()
        self.connected = True
        self.connecting = False

    def handle_write_event(self) -> None:
        if self.accepting:
            # Accepting sockets shouldn't get a write event; ignore it as the stdlib does.
            return
        if not self.connected and self.connecting:
            self.handle_connect_event()
        self.handle_write()

    def handle_expt_event(self) -> None:
        # An exceptional condition is either out-of-band data or a socket error (a refused
        # connect on some systems): SO_ERROR tells them apart.
        err = self.socket.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err != 0:
            self.handle_close()
        else:
            self.handle_expt()

    def handle_error(self) -> None:
        _, t, v, tbinfo = compact_traceback()
        try:
            self_repr = repr(self)
        except Exception:
            self_repr = f"<__repr__(self) failed for object at {id(self):0x}>"
        self.log_info(
            f"uncaptured python exception, closing channel {self_repr} ({t}:{v} {tbinfo})",
            "error",
        )
        self.handle_close()

    def handle_expt(self) -> None:
        self.log_info("unhandled incoming priority event", "warning")

    def handle_read(self) -> None:
        self.log_info("unhandled read event", "warning")

    def handle_write(self) -> None:
        self.log_info("unhandled write event", "warning")

    def handle_connect(self) -> None:
        self.log_info("unhandled connect event", "warning")

    def handle_accept(self) -> None:
        pair = self.accept()
        if pair is not None:
            self.handle_accepted(*pair)

    def handle_accepted(self, sock: socket.socket, addr: Any) -> None:
        sock.close()
        self.log_info("unhandled accepted event", "warning")

    def handle_close(self) -> None:
        self.log_info("unhandled close event", "warning")
        self.close()


class BufferedOutput(Dispatcher):
    """What channels that queue output share (``DispatcherWithSend``, ``AsyncChat``).

    Flow control: when queued output grows past ``write_high_water`` bytes,
    :meth:`handle_output_full` is called (once); when it drains to ``write_low_water`` or
    below, :meth:`handle_output_drained`. Both do nothing by default: a proxy overrides them to
    ``pause_reading()``/``resume_reading()`` the channel it copies from, so a slow reader
    cannot grow its memory without bound (examples/proxy.py).

    End of input with output still queued (the peer shut down its sending side but still
    reads): the default ``handle_close`` stops reading, delivers what is queued, then closes,
    instead of dropping it. A peer that is really gone fails the next send, which closes at
    once.
    """

    #: Queued bytes above which :meth:`handle_output_full` is called.
    write_high_water = 1024 * 1024
    #: Queued bytes at or below which :meth:`handle_output_drained` is called after it.
    write_low_water = 256 * 1024

    _output_full = False
    _closing_after_flush = False

    def handle_output_full(self) -> None:
        """Queued output went above ``write_high_water``. Override to apply back-pressure."""

    def handle_output_drained(self) -> None:
        """Queued output fell to ``write_low_water`` after being full."""

    def _output_grew(self, queued: int) -> None:
        if not self._output_full and queued > self.write_high_water:
            self._output_full = True
            self.handle_output_full()

    def _output_shrank(self, queued: int) -> None:
        if self._output_full and queued <= self.write_low_water:
            self._output_full = False
            self.handle_output_drained()

    def _has_queued_output(self) -> bool:
        raise NotImplementedError

    def _flush_before_close(self) -> bool:
        """At end of input: with output queued and the connection up, stop reading and let
        the output go first. True if so (the caller then closes when it is sent)."""
        if self._closing_after_flush or not self._connected or not self._has_queued_output():
            return False
        self._closing_after_flush = True
        self.pause_reading()
        return True


class DispatcherWithSend(BufferedOutput):
    """A dispatcher whose ``send`` buffers what the socket does not take at once.

    ``out_buffer`` is a ``bytearray``: appends are amortised O(len(data)) and sent bytes are
    removed from the front in O(1) (CPython's bytearray moves its start instead of copying),
    so the cost is linear in the bytes sent however they are split. Flow control and
    flush-before-close: see :class:`BufferedOutput`.
    """

    #: Most bytes handed to one ``socket.send`` call.
    send_chunk_size = 256 * 1024

    def __init__(self, sock: Optional[socket.socket] = None, map: Optional[ChannelMapType] = None):
        super().__init__(sock, map)
        self._out_buffer = bytearray()

    def _set_out_buffer(self, value: Any) -> None:
        # Code written for the stdlib assigns bytes (out_buffer = out_buffer + data): keep a
        # bytearray, and tell the loop, since writable() reads it.
        self._out_buffer = value if type(value) is bytearray else bytearray(value)
        self.interest_changed()

    out_buffer = property(attrgetter("_out_buffer"), _set_out_buffer)

    def _has_queued_output(self) -> bool:
        return len(self._out_buffer) > 0

    def _send_some(self, data: Any) -> int:
        """Hand ``data`` to the socket: the bytes it took, or -1 when the peer is gone.

        ``Dispatcher.send`` without its ``handle_close``: that must wait until the views of
        ``out_buffer`` handed to the socket are released (user code may touch the buffer)."""
        try:
            sent: int = self.socket.send(data)
        except BlockingIOError:
            return 0
        except OSError as why:
            if why.errno in errnos.DISCONNECTED:
                return -1
            raise
        if self._idle_timeout is not None and sent:
            self._note_activity()
        return sent

    def initiate_send(self) -> None:
        buf = self._out_buffer
        if len(buf) <= self.send_chunk_size:
            sent = self._send_some(buf)
        else:
            # A zero-copy view of the head. Views must be released before the buffer is
            # resized, which is why a disconnect is only noted here and handled below.
            with memoryview(buf) as view, view[: self.send_chunk_size] as head:
                sent = self._send_some(head)
        if sent < 0:
            del buf[:]  # the peer is gone: what is queued can never be delivered
            self.handle_close()
        elif sent:
            del buf[:sent]
            self._output_shrank(len(buf))
            if not buf:
                if self._closing_after_flush:
                    self.close()
                    return
                self.interest_changed()

    def handle_write(self) -> None:
        self.initiate_send()

    @state_predicate
    def writable(self) -> bool:
        return (not self._connected) or len(self._out_buffer) > 0

    def send(self, data: Any) -> None:  # type: ignore[override]
        if self.debug:
            self.log_info(f"sending {data!r}")
        buf = self._out_buffer
        if buf:  # data is already waiting: queue behind it, keeping the order
            buf += data
            self.initiate_send()
        else:
            # Nothing queued: offer the data to the socket directly and buffer only the rest.
            # (_send_some, inlined on this hot path.)
            try:
                sent = self.socket.send(data)
            except BlockingIOError:
                sent = 0
            except OSError as why:
                if why.errno not in errnos.DISCONNECTED:
                    raise
                self.handle_close()
                return
            if sent and self._idle_timeout is not None:
                self._note_activity()
            size = data.nbytes if isinstance(data, memoryview) else len(data)
            if sent >= size:
                return
            with memoryview(data) as view, view.cast("B") as flat:
                buf += flat[sent:]
            self.interest_changed()
        self._output_grew(len(self._out_buffer))

    def handle_close(self) -> None:
        if not self._flush_before_close():
            super().handle_close()


class FileWrapper:
    """Makes a file descriptor look enough like a socket for a dispatcher.

    The descriptor passed in is duplicated; the wrapper owns the duplicate and closes it in
    :meth:`close` (warning with ``ResourceWarning`` if it is garbage-collected open).
    """

    def __init__(self, fd: int) -> None:
        self.fd = os.dup(fd)

    def __del__(self) -> None:
        if self.fd >= 0:
            warnings.warn(f"unclosed file {self!r}", ResourceWarning, source=self, stacklevel=1)
        self.close()

    def recv(self, *args: Any) -> bytes:
        return os.read(self.fd, *args)

    def send(self, *args: Any) -> int:
        return os.write(self.fd, *args)

    def getsockopt(self, level: int, optname: int, buflen: Optional[int] = None) -> int:
        if level == socket.SOL_SOCKET and optname == socket.SO_ERROR and not buflen:
            return 0
        raise NotImplementedError("Only asyncore specific behaviour implemented.")

    read = recv
    write = send

    def close(self) -> None:
        if self.fd < 0:
            return
        fd, self.fd = self.fd, -1
        os.close(fd)

    def fileno(self) -> int:
        return self.fd


class FileDispatcher(Dispatcher):
    """A dispatcher over a pipe, terminal or file descriptor (POSIX)."""

    def __init__(self, fd: Any, map: Optional[ChannelMapType] = None) -> None:
        super().__init__(None, map)
        self.connected = True
        try:
            fd = fd.fileno()
        except AttributeError:
            pass
        self.set_file(fd)
        os.set_blocking(fd, False)

    def set_file(self, fd: int) -> None:
        self.socket = FileWrapper(fd)
        self._fileno = self.socket.fileno()
        self.add_channel()
