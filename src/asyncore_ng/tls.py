"""TLS for asyncore channels: ``TLSMixin`` (and ``TLSDispatcher``, ``TLSDispatcherWithSend``,
``TLSAsyncChat``), server and client side, STARTTLS in place, orderly and bounded shutdown.

Usage::

    class Handler(TLSMixin, DispatcherWithSend):      # or asyncore.dispatcher_with_send,
        def handle_read(self):                        # AsyncChat, asynchat.async_chat...
            data = self.recv(65536)                   # plaintext, never an SSL exception
            if data:
                self.send(data)

    handler = Handler(sock)
    handler.start_tls(context, server_side=True)      # at once, or after a STARTTLS command

Design
------
*Where TLS sits.* The channel keeps its socket; ``start_tls`` replaces ``channel.socket`` with a
:class:`TLSSocket`, an object that owns the real socket, an ``ssl.SSLObject`` and its two memory
BIOs (the design of asyncio's ``sslproto``), and answers ``send``/``recv``/``close`` with
plaintext. Everything above the socket is unchanged: ``dispatcher.send``/``recv``,
``dispatcher_with_send``'s buffer, ``async_chat``'s framing and producers, the stdlib's
``handle_close`` on end of input and on a disconnect error. (We rejected wrapping with
``ssl.SSLSocket`` in non-blocking mode, the classic recipe: its ``recv`` raises
``SSLWantReadError`` into user code and ``handle_error``, and data it has already decrypted is
invisible to ``poll``, so a channel hangs with a record inside OpenSSL; with a memory BIO the
kernel socket is only ever touched by us and what TLS holds is visible to us.)

*Want-read and want-write.* With memory BIOs OpenSSL never waits on the socket: it asks for more
input (``SSLWantReadError``) and writes whatever it has to say into the outgoing BIO, which has
no limit, so ``SSLWantWriteError`` does not occur. "Want write" is therefore ours: bytes for
the wire that the kernel did not take (``TLSSocket`` keeps at most one ``send``'s worth: a
``send`` is refused, returning 0 as a full socket does, until they are gone). The interest hook
``_ng_filter_interest`` turns that state into kernel interest: during the handshake the channel
is watched for reading, and for writing only while handshake bytes wait; once established, the
channel's own predicates decide, plus writing while ciphertext waits. Every change of that state
is announced to the loop, so nothing is polled and nothing spins. The user's ``handle_write`` is
not called before the handshake is done, nor while earlier ciphertext waits.

*Reading.* A read event feeds the incoming BIO with one kernel ``recv`` (only when nothing
decrypted is already held) and decrypts. ``handle_read`` is called only when plaintext, the end
of input, or a disconnect is there to report, so a ``recv`` in it never meets "nothing yet".
Data already decrypted, or whole records still in the BIO, that the handler did not take are
redelivered on the next pass with the watch's ``ready_again`` (no kernel event will come for
them), through the normal handler path and error boundary; when the channel's reading is
paused they are held until it resumes. A partial record waits for the kernel.

*End of input, errors.* A ``close_notify`` from the peer is the end of input (``recv`` returns
``b""``, and the dispatcher's usual end-of-input path runs). A TCP end of input without
``close_notify`` is reported the same way, with the possible truncation logged (info) on the
``asyncore_ng`` logger; a reset goes to the dispatcher's disconnect path (``handle_close``).
The TCP end of input is ours to judge, never handed to OpenSSL (``MemoryBIO.write_eof``): once
it knows the input ended it fails every later write, and a peer that shut down only its
sending side (an HTTP client after its request) must still receive the answer queued for it:
``dispatcher_with_send`` and ``async_chat`` deliver it, then close, within
``ng_tls_shutdown_timeout`` for a peer that no longer reads.
A TLS failure (a handshake that fails verification, plain text or garbage instead of a
handshake, a peer that closes during the handshake, a handshake that outlasts its timeout, a
protocol error later) is logged with its reason and handed to :meth:`TLSMixin.handle_tls_error`,
whose default calls ``handle_close()``. ``SSLWantReadError`` never leaves this module.

*Shutdown.* Closing an established channel sends ``close_notify`` (``SSLObject.unwrap``) after
everything written, then closes the socket. If the kernel cannot take it all at once (a peer
that reads slowly), a small internal channel keeps the socket in the map until it is sent or
``ng_tls_shutdown_timeout`` seconds pass, so ``close_when_done`` and the flush at end of input
do not lose a tail of ciphertext; ``loop()`` runs until then. Before the socket closes, input
waiting in the kernel is read and dropped (closing over unread input makes the kernel reset
the connection, which can destroy what the peer has not read yet). The peer's ``close_notify``
is not awaited (as HTTP servers do): everything we were asked to send has been sent. A channel
that failed, or was reset, closes at once, after one attempt to send TLS's alert.

*STARTTLS.* ``start_tls`` on a plain channel takes over in place: output queued before the call
(``out_buffer``, ``producer_fifo``) is sent in plain first, and input received but not yet
handed to the application (``async_chat``'s ``ac_in_buffer``: bytes the peer pipelined after
its STARTTLS command) becomes the first input of the TLS layer; nothing is lost or read twice.

Names. The public names this module adds to a channel are ``start_tls`` (for the program to
call), the hooks ``handle_tls_established`` and ``handle_tls_error`` (only called after
``start_tls``), and ``ng_tls_handshake_timeout``/``ng_tls_shutdown_timeout`` (read by
``start_tls``). The state lives under ``_ng_`` names. See docs/compat.md.
"""

from __future__ import annotations

import errno
import logging
import socket
import ssl
import threading
import weakref
from typing import Any, Callable, Optional, Tuple

from .buffered import DispatcherWithSend
from .chat import AsyncChat
from .dispatcher import ChannelMapType, Dispatcher, state_predicate, weak_callback
from .errnos import DISCONNECTED
from .loop import guarded_call
from .producers import CLOSE
from .reactor import READ, TimerHandle

__all__ = ["TLSAsyncChat", "TLSDispatcher", "TLSDispatcherWithSend", "TLSMixin", "TLSSocket"]

logger = logging.getLogger("asyncore_ng")

#: Bytes one kernel ``recv`` takes (into a per-thread scratch buffer, so no large block is
#: allocated per read).
RECV_SIZE = 262144
#: Plaintext one ``SSLObject.read`` asks for (a record holds at most 16 KiB).
READ_CHUNK = 65536
#: Plaintext one ``send`` encrypts at most (a socket's ``send`` may take less than offered).
SEND_LIMIT = 262144
#: Input dropped at most before closing (see the module notes: no reset over unread input).
DRAIN_LIMIT = 1 << 20

# TLSSocket.phase
WAITING = 0  # start_tls was called before the TCP connection was up
HANDSHAKE = 1
ESTABLISHED = 2
FAILED = 3

_scratch = threading.local()


def _scratch_buffer() -> bytearray:
    buf: Optional[bytearray] = getattr(_scratch, "buf", None)
    if buf is None:
        buf = _scratch.buf = bytearray(RECV_SIZE)
    return buf


def _is_eof_error(exc: ssl.SSLError) -> bool:
    """Whether OpenSSL reports the input ending without ``close_notify`` (the exception type
    depends on the Python and OpenSSL versions)."""
    if isinstance(exc, (ssl.SSLEOFError, ssl.SSLSyscallError)):
        return True
    return "EOF" in str(getattr(exc, "reason", "") or "").upper() or "EOF" in str(exc).upper()


def _drain_and_close(sock: socket.socket) -> None:
    """Drop input waiting in the kernel (bounded), then close: see the module notes."""
    try:
        for _ in range(DRAIN_LIMIT // 65536):
            if not sock.recv(65536):
                break
    except OSError:
        pass
    sock.close()


class TLSSocket:
    """What a TLS channel's ``socket`` is while TLS is on: plaintext ``send``/``recv`` over the
    real socket (:attr:`raw`), and the negotiated details as ``ssl.SSLSocket`` offers them
    (:meth:`getpeercert`, :meth:`version`, :meth:`cipher`, :meth:`selected_alpn_protocol`...).
    Other socket methods (``getpeername``, ``setsockopt``, ``fileno``...) are the real socket's.

    ``send`` returns 0 (a full socket) until the handshake is done and while earlier ciphertext
    waits for the kernel; ``recv`` returns what is decrypted, ``b""`` at the end of input, and
    raises ``BlockingIOError`` when nothing can be decrypted yet. Use it from the loop's thread.
    """

    def __init__(
        self,
        raw: socket.socket,
        context: ssl.SSLContext,
        server_side: bool,
        server_hostname: Optional[str],
        session: Optional[ssl.SSLSession],
        map: ChannelMapType,
        shutdown_timeout: float,
    ) -> None:
        self.raw = raw
        self.context = context
        self.server_side = server_side
        self.server_hostname = server_hostname
        self._session = session
        self._map = map
        self._shutdown_timeout = shutdown_timeout
        self.ssl_object: Optional[ssl.SSLObject] = None
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._out = bytearray()  # bytes for the wire the kernel has not taken yet
        self._plain = bytearray()  # decrypted, not yet returned by recv
        self.phase = WAITING
        self._kernel_eof = False  # the kernel reported the end of input
        self._eof = False  # the plaintext ended (close_notify, or the kernel's end of input)
        self._eof_delivered = False
        self._truncated = False  # ended without close_notify
        self._error: Optional[OSError] = None  # a disconnect met by our own recv/send
        self._closed = False
        #: Called when ciphertext starts or stops waiting for the kernel (the channel's
        #: interest depends on it).
        self._on_output_change: Optional[Callable[[], None]] = None

    # -- the socket's face ------------------------------------------------------------------

    def __getattr__(self, name: str) -> Any:
        # Only called for names not found here: the real socket's methods and attributes.
        try:
            raw = self.__dict__["raw"]
        except KeyError:
            raise AttributeError(name) from None
        return getattr(raw, name)

    def fileno(self) -> int:
        return self.raw.fileno()

    def __repr__(self) -> str:
        phase = ("waiting", "handshake", "established", "failed")[self.phase]
        return f"<TLSSocket {phase} {'server' if self.server_side else 'client'} {self.raw!r}>"

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        plain = self._plain
        if len(plain) < bufsize and self.phase == ESTABLISHED and not self._eof and not self._closed:
            try:
                self.pull(kernel=not plain)
            except ssl.SSLError as exc:
                self.phase = FAILED
                logger.warning("%r: TLS connection failed: %s", self, exc)
                raise ConnectionAbortedError(errno.ECONNABORTED, f"TLS: {exc}") from exc
        if plain:
            if len(plain) <= bufsize:
                data = bytes(plain)
                plain.clear()
            else:
                data = bytes(plain[:bufsize])
                del plain[:bufsize]
            return data
        if self._error is not None:
            raise self._error
        if self._eof or self._closed:
            self._eof_delivered = True
            return b""
        if self.phase == FAILED:
            raise ConnectionAbortedError(errno.ECONNABORTED, "the TLS connection failed")
        raise BlockingIOError(errno.EAGAIN, "no TLS data to read yet")

    def send(self, data: Any, flags: int = 0) -> int:
        if self._error is not None:
            raise self._error
        if self.phase == FAILED or self._closed:
            raise ConnectionAbortedError(errno.ECONNABORTED, "the TLS connection failed or was closed")
        if self.phase != ESTABLISHED or (self._out and not self.flush()):
            return 0  # nothing taken: handshake not done, or earlier ciphertext still waiting
        view = data if isinstance(data, memoryview) else memoryview(data)
        if view.itemsize != 1 or view.ndim != 1:
            view = view.cast("B")
        if len(view) > SEND_LIMIT:
            view = view[:SEND_LIMIT]
        size = len(view)
        assert self.ssl_object is not None
        try:
            self.ssl_object.write(view)
        except ssl.SSLError as exc:
            self.phase = FAILED
            logger.warning("%r: TLS connection failed: %s", self, exc)
            raise ConnectionAbortedError(errno.ECONNABORTED, f"TLS: {exc}") from exc
        self.flush()
        if self._error is not None:
            raise self._error
        return size

    def pending(self) -> int:
        """Decrypted bytes held for ``recv``."""
        return len(self._plain) + (self.ssl_object.pending() if self.ssl_object is not None else 0)

    # -- negotiated details, as ssl.SSLSocket names them --------------------------------------

    def _obj(self) -> ssl.SSLObject:
        if self.ssl_object is None:
            raise ValueError("the TLS handshake has not started")
        return self.ssl_object

    def getpeercert(self, binary_form: bool = False) -> Any:
        """The peer's certificate (``ssl.SSLSocket.getpeercert``); ``None`` before the handshake
        is done or when the peer sent none."""
        if self.phase != ESTABLISHED and self.phase != FAILED:
            return None
        return self._obj().getpeercert(binary_form)

    def version(self) -> Optional[str]:
        return self.ssl_object.version() if self.ssl_object is not None else None

    def cipher(self) -> Optional[Tuple[str, str, int]]:
        return self.ssl_object.cipher() if self.ssl_object is not None else None

    def shared_ciphers(self) -> Optional[Any]:
        return self.ssl_object.shared_ciphers() if self.ssl_object is not None else None

    def compression(self) -> Optional[str]:
        return self.ssl_object.compression() if self.ssl_object is not None else None

    def selected_alpn_protocol(self) -> Optional[str]:
        return self.ssl_object.selected_alpn_protocol() if self.ssl_object is not None else None

    def get_channel_binding(self, cb_type: str = "tls-unique") -> Optional[bytes]:
        return self.ssl_object.get_channel_binding(cb_type) if self.ssl_object is not None else None

    @property
    def session(self) -> Optional[ssl.SSLSession]:
        return self.ssl_object.session if self.ssl_object is not None else None

    @property
    def session_reused(self) -> Optional[bool]:
        return self.ssl_object.session_reused if self.ssl_object is not None else None

    @property
    def established(self) -> bool:
        """Whether the handshake is done (and the connection has not failed)."""
        return self.phase == ESTABLISHED

    # -- the engine (called by TLSMixin) ----------------------------------------------------

    def begin(self, server_hostname: Optional[str]) -> None:
        self.server_hostname = server_hostname
        self.ssl_object = self.context.wrap_bio(
            self._incoming,
            self._outgoing,
            server_side=self.server_side,
            server_hostname=server_hostname,
            session=self._session,
        )
        self.phase = HANDSHAKE

    def take_input(self, data: bytes) -> None:
        """Bytes received before TLS began that belong to it (STARTTLS)."""
        self._incoming.write(data)

    def put_plain_output(self, data: bytes) -> None:
        """Bytes to send in plain before anything TLS says (STARTTLS)."""
        self._out += data

    def receive(self) -> None:
        """One kernel ``recv`` into the incoming BIO; records the end of input or a reset."""
        if self._kernel_eof or self._error is not None:
            return
        buf = _scratch_buffer()
        try:
            n = self.raw.recv_into(buf)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno in DISCONNECTED:
                self._error = exc
                return
            raise
        if not n:
            # Not handed to OpenSSL (MemoryBIO.write_eof): it would then refuse to write, and
            # a peer that shut down its sending side without close_notify must still get what
            # we have to say. No whole record can arrive any more: decrypt() ends the input.
            self._kernel_eof = True
            return
        with memoryview(buf) as view, view[:n] as chunk:
            self._incoming.write(chunk)

    def decrypt(self, want: int) -> None:
        """Decrypt from the incoming BIO until ``want`` bytes are held or no whole record is
        left. A TLS protocol error raises ``ssl.SSLError``."""
        plain = self._plain
        obj = self.ssl_object
        assert obj is not None
        while len(plain) < want and not self._eof:
            try:
                data = obj.read(READ_CHUNK)
            except ssl.SSLWantReadError:
                if self._kernel_eof:
                    self._eof = self._truncated = True  # the kernel ended without close_notify
                break
            except ssl.SSLZeroReturnError:
                self._eof = True  # close_notify
                break
            except ssl.SSLError as exc:
                if not (self._kernel_eof and _is_eof_error(exc)):
                    raise
                self._eof = self._truncated = True
                break
            if not data:
                self._eof = True
                break
            plain += data
        if self._outgoing.pending:
            self.flush()  # post-handshake messages (session tickets, key updates)

    def pull(self, kernel: bool) -> None:
        """Make plaintext available: decrypt what the BIO holds, and if that gives nothing,
        read the kernel once (when ``kernel``) and decrypt again."""
        if self._incoming.pending:
            self.decrypt(READ_CHUNK)
        if kernel and not self._plain and not self._eof:
            self.receive()
            if self._incoming.pending or self._kernel_eof:
                self.decrypt(READ_CHUNK)

    def deliverable(self) -> bool:
        """Whether a ``recv`` now has something to report: data, the end of input, a reset."""
        return bool(self._plain) or (self._eof and not self._eof_delivered) or self._error is not None

    def more_to_deliver(self) -> bool:
        """After the handler: whether to report readiness again without a kernel event."""
        if not self._plain and self._incoming.pending and not self._eof and self.phase == ESTABLISHED:
            self.decrypt(READ_CHUNK)
        return self.deliverable()

    def handshake(self) -> bool:
        """One handshake step; True once it is done. A failure raises ``ssl.SSLError``."""
        obj = self.ssl_object
        assert obj is not None
        try:
            obj.do_handshake()
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            self.flush()
            return False
        self.phase = ESTABLISHED
        self.flush()
        return True

    def flush(self) -> bool:
        """Hand the kernel the bytes waiting for the wire; True if none is left. A disconnect
        is recorded (``_error``) and drops them."""
        out = self._out
        was_waiting = bool(out)
        if self._outgoing.pending:
            data = self._outgoing.read()
            if out:
                out += data
            else:
                sent = self._send_raw(data)
                if sent < len(data) and self._error is None:
                    out += memoryview(data)[sent:]
        while out:
            sent = self._send_raw(out)
            if not sent:
                break
            del out[:sent]
        if bool(out) != was_waiting and self._on_output_change is not None:
            self._on_output_change()
        return not out

    def _send_raw(self, data: Any) -> int:
        if self._error is not None:
            return 0
        try:
            return self.raw.send(data)
        except BlockingIOError:
            return 0
        except OSError as exc:
            if exc.errno in DISCONNECTED:
                self._error = exc
                self._out.clear()
                return 0
            raise

    def waiting(self) -> bool:
        """Whether bytes wait for the kernel to take them."""
        return bool(self._out)

    def close(self) -> None:
        """Close: orderly (``close_notify``) if established and healthy, else at once. See the
        module notes."""
        if self._closed:
            return
        self._closed = True
        self._on_output_change = None
        raw = self.raw
        if self.phase == ESTABLISHED and self._error is None and self.ssl_object is not None:
            try:
                self.ssl_object.unwrap()
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                pass  # our close_notify is written; the peer's is not awaited
            except (ssl.SSLError, ValueError):
                pass
            self.flush()
            if self._out and self._error is None:
                try:
                    _TLSCloser(raw, self._out, self._map, self._shutdown_timeout)
                except OSError:
                    raw.close()
                return
            _drain_and_close(raw)
            return
        if self.phase == FAILED and self._error is None:
            self.flush()  # the alert that tells the peer why, if the kernel takes it now
        raw.close()


_DEFAULT: Any = object()


class TLSMixin(Dispatcher):
    """TLS for a channel class: put it first among the bases, then call :meth:`start_tls`.

    ``class Handler(TLSMixin, DispatcherWithSend)`` (or ``asyncore.dispatcher``,
    ``asyncore.dispatcher_with_send``, ``AsyncChat``, ``asynchat.async_chat``). Until
    ``start_tls`` the channel is plain and behaves exactly as its base class. After it, the
    channel's ``send``/``recv`` carry plaintext, ``handle_read`` is called only when plaintext
    (or the end of input) is there, and ``self.socket`` is a :class:`TLSSocket` giving the
    negotiated details (``self.socket.getpeercert()``, ``.version()``, ``.cipher()``,
    ``.selected_alpn_protocol()``). See the module notes for the design.
    """

    #: Seconds the handshake may take before the connection is dropped (``None``: no limit).
    ng_tls_handshake_timeout: Optional[float] = 30.0
    #: Seconds a closed channel may take to hand its last ciphertext and ``close_notify`` to a
    #: slow peer before the socket is closed anyway.
    ng_tls_shutdown_timeout: float = 10.0

    _ng_tls: Optional[TLSSocket] = None
    _ng_tls_timer: Optional[TimerHandle] = None
    _ng_tls_user_writable: Any = False  # the channel's own writable() answer, last asked
    _ng_tls_state: Tuple[int, bool] = (WAITING, False)  # what the loop was last told
    _ng_tls_hostname: Optional[str] = None
    _ng_tls_timeout: Optional[float] = None

    # -- the program's side -------------------------------------------------------------------

    def start_tls(
        self,
        context: Optional[ssl.SSLContext] = None,
        *,
        server_side: bool = False,
        server_hostname: Optional[str] = None,
        handshake_timeout: Optional[float] = _DEFAULT,
        session: Optional[ssl.SSLSession] = None,
    ) -> None:
        """Switch this channel to TLS: now for a connected channel (a STARTTLS upgrade in
        place included), or as soon as the connection is up for a client still connecting.

        ``context``: an ``ssl.SSLContext``; for a client ``None`` means
        ``ssl.create_default_context()`` (certificates verified, host name checked). A server
        needs one with its certificate loaded. ``server_hostname`` (client side): the name
        sent in SNI and checked against the certificate; by default the host given to
        ``connect()`` when it was a name. ``handshake_timeout``: seconds (``None``: none;
        default :attr:`ng_tls_handshake_timeout`).

        Output queued before the call is sent in plain first; input received and not yet
        handed to the application (``async_chat``'s ``ac_in_buffer``) goes to TLS. When the
        handshake completes :meth:`handle_tls_established` is called; if it fails,
        :meth:`handle_tls_error`.
        """
        self._ng_start_tls(context, server_side, server_hostname, handshake_timeout, session)

    def handle_tls_established(self) -> None:
        """Called when the TLS handshake has completed (inside the handlers' error boundary).
        ``self.socket.getpeercert()``, ``.version()``, ``.cipher()``,
        ``.selected_alpn_protocol()`` are known from now on. Default: nothing."""

    def handle_tls_error(self, exc: BaseException) -> None:
        """Called when TLS fails: the handshake (a certificate that does not verify, a host
        name that does not match, a peer that speaks plain text or garbage, or closes, or does
        not finish within the handshake timeout) or the protocol later on. ``exc`` says why
        (an ``ssl.SSLError``, ``TimeoutError``, ``ConnectionError``); the reason is already
        logged on the ``asyncore_ng`` logger. The connection is unusable: the default calls
        ``handle_close()``; an override must close the channel too."""
        self.handle_close()

    # -- switching ------------------------------------------------------------------------------

    def _ng_start_tls(
        self,
        context: Optional[ssl.SSLContext],
        server_side: bool,
        server_hostname: Optional[str],
        handshake_timeout: Optional[float],
        session: Optional[ssl.SSLSession],
    ) -> None:
        if self._ng_tls is not None:
            raise RuntimeError("TLS is already on for this channel")
        if self.socket is None:
            raise RuntimeError(
                "start_tls() needs the channel's socket: create_socket() or a connected socket"
            )
        if self.accepting:
            raise RuntimeError("start_tls() is for connections, not for a listening channel")
        if context is None:
            if server_side:
                raise ValueError("a server-side TLS channel needs an ssl.SSLContext with its certificate")
            context = ssl.create_default_context()
        if not isinstance(context, ssl.SSLContext):
            raise TypeError(f"context must be an ssl.SSLContext, not {type(context).__name__}")
        if server_side and server_hostname is not None:
            raise ValueError("server_hostname is for the client side")
        timeout = self.ng_tls_handshake_timeout if handshake_timeout is _DEFAULT else handshake_timeout
        if timeout is not None and timeout <= 0:
            raise ValueError(f"handshake timeout must be positive or None, got {timeout!r}")
        tls = TLSSocket(
            self.socket,
            context,
            server_side,
            server_hostname,
            session,
            self._map,
            self.ng_tls_shutdown_timeout,
        )
        # Output queued so far was meant for the plain connection (a STARTTLS reply): it goes
        # first, in plain. Input received and not handed to the application belongs to TLS.
        tls.put_plain_output(self._ng_tls_take_plain_output())
        early = self._ng_tls_take_plain_input()
        if early:
            tls.take_input(early)
        tls._on_output_change = weak_callback(self, "_ng_tls_sync")
        self._ng_tls_hostname = server_hostname
        self._ng_tls_timeout = timeout
        self._ng_tls = tls
        self.socket = tls
        if self.connected:
            self._ng_tls_begin()
        else:
            tls.flush()  # nothing to send yet; a client's handshake starts on connect

    def _ng_tls_take_plain_output(self) -> bytes:
        channel: Any = self  # (a mixin: which base it has is known at run time)
        if isinstance(channel, AsyncChat):
            fifo = channel.producer_fifo
            taken = bytearray()
            while True:
                chunk = fifo.next_chunk(SEND_LIMIT, channel.encoding if channel.use_encoding else None)
                if chunk is None:
                    break
                if chunk is CLOSE:
                    fifo.appendleft(None)  # close_when_done() before start_tls(): keep its place
                    break
                data = bytes(chunk)
                taken += data
                fifo.consume(len(data))
            self._ng_queued_bytes = 0
            return bytes(taken)
        if isinstance(channel, DispatcherWithSend):
            queued = bytes(channel.out_buffer)
            if queued:
                channel.out_buffer = b""
            return queued
        return b""

    def _ng_tls_take_plain_input(self) -> bytes:
        # Received, not handed to the application: async_chat's unframed input, then what was
        # read ahead after it (bulk input: a pipelined ClientHello may be there).
        channel: Any = self
        pending = b""
        if isinstance(channel, AsyncChat):
            pending = channel.ac_in_buffer
            if pending:
                channel.ac_in_buffer = b""
        return pending + self._ng_take_read_ahead()

    def _ng_tls_begin(self) -> None:
        tls = self._ng_tls
        assert tls is not None
        hostname = self._ng_tls_hostname
        if hostname is None and not tls.server_side and tls.context.check_hostname:
            address = self.addr
            if isinstance(address, tuple) and address and isinstance(address[0], str):
                hostname = address[0]
        tls.begin(hostname)
        if self._ng_tls_timeout is not None:
            self._ng_tls_timer = self._ng_reactor().call_later(
                self._ng_tls_timeout, weak_callback(self, "_ng_tls_timed_out")
            )
        watch = self._ng_tls_watch()
        if tls.server_side and watch is not None:
            # The peer speaks first: look at what it already sent (STARTTLS) on the next pass,
            # through the normal read path.
            if tls._incoming.pending:
                watch.ready_again(READ)
            self._ng_tls_sync()
        else:
            self._ng_tls_handshake_step()

    def _ng_tls_watch(self) -> Any:
        registration = self._ng_registration
        return registration.watch if registration is not None else None

    # -- the loop's side ------------------------------------------------------------------------

    def _ng_filter_interest(self, readable: Any, writable: Any) -> Tuple[Any, Any]:
        readable, writable = super()._ng_filter_interest(readable, writable)
        tls = self._ng_tls
        if tls is None or tls.phase == WAITING or tls._closed:
            return readable, writable
        self._ng_tls_user_writable = writable
        waiting = bool(tls._out)
        phase = tls.phase
        if phase == ESTABLISHED:
            return readable, bool(writable) or waiting
        if phase == HANDSHAKE:
            return not self._ng_reading_paused, waiting
        return False, waiting

    def _ng_tls_sync(self) -> None:
        """Tell the loop when what the interest depends on changed (phase, waiting output)."""
        tls = self._ng_tls
        if tls is None:
            return
        state = (tls.phase, bool(tls._out))
        if state != self._ng_tls_state:
            self._ng_tls_state = state
            self._ng_announce()

    def handle_connect_event(self) -> None:
        super().handle_connect_event()
        tls = self._ng_tls
        if tls is not None and tls.phase == WAITING and self.connected and not tls._closed:
            self._ng_tls_begin()

    def handle_read_event(self) -> None:
        tls = self._ng_tls
        if tls is None or self.accepting:
            super().handle_read_event()
            return
        if not self.connected:
            if not self.connecting:
                return
            self.handle_connect_event()  # the connection is up: the handshake begins
            if not self.connected:
                return
        if tls._closed:
            return
        kernel = True
        if tls.phase == HANDSHAKE:
            tls.receive()
            if not self._ng_tls_handshake_step():
                return
            kernel = False  # just read: what arrived with the handshake's end is in the BIO
        if tls.phase != ESTABLISHED:
            return
        try:
            if not tls.deliverable():
                tls.pull(kernel)
        except ssl.SSLError as exc:
            self._ng_tls_fail(exc)
            return
        if tls.deliverable():
            if tls._truncated and not tls._plain and not tls._eof_delivered:
                logger.info("%r: the peer ended the connection without a TLS close_notify", self)
            super().handle_read_event()  # the channel's handle_read
            if self._ng_tls is not tls or tls._closed or tls.phase != ESTABLISHED:
                return
        try:
            again = tls.more_to_deliver()
        except ssl.SSLError as exc:
            self._ng_tls_fail(exc)
            return
        if again:
            watch = self._ng_tls_watch()
            if watch is not None:
                watch.ready_again(READ)
        self._ng_tls_sync()

    def handle_write_event(self) -> None:
        tls = self._ng_tls
        if tls is None or self.accepting:
            super().handle_write_event()
            return
        if not self.connected:
            if self.connecting:
                self.handle_connect_event()  # the handshake begins; handle_write waits for it
            return
        if tls._closed:
            return
        flushed = tls.flush()
        if tls._error is not None:
            if tls.phase == ESTABLISHED:
                logger.info("%r: the peer reset the TLS connection: %s", self, tls._error)
                self._ng_peer_gone()
            else:
                self._ng_tls_fail(tls._error)
            return
        if flushed and tls.phase == ESTABLISHED and self._ng_tls_user_writable:
            super().handle_write_event()  # the channel's handle_write
        self._ng_tls_sync()

    def _ng_tls_handshake_step(self) -> bool:
        """Advance the handshake; True once it is done (the channel still open)."""
        tls = self._ng_tls
        assert tls is not None
        try:
            done = tls.handshake()
        except ssl.SSLError as exc:
            if tls._kernel_eof and _is_eof_error(exc):
                self._ng_tls_fail(
                    ConnectionAbortedError(
                        errno.ECONNABORTED, "the peer closed the connection during the TLS handshake"
                    )
                )
            else:
                self._ng_tls_fail(exc)
            return False
        if tls._error is not None:
            self._ng_tls_fail(tls._error)
            return False
        if not done:
            if tls._kernel_eof:
                self._ng_tls_fail(
                    ConnectionAbortedError(
                        errno.ECONNABORTED, "the peer closed the connection during the TLS handshake"
                    )
                )
                return False
            self._ng_tls_sync()
            return False
        if self._ng_tls_timer is not None:
            self._ng_tls_timer.cancel()
            self._ng_tls_timer = None
        self._ng_tls_sync()
        self.handle_tls_established()
        return self._ng_tls is tls and not tls._closed and tls.phase == ESTABLISHED

    def _ng_tls_timed_out(self) -> None:
        self._ng_tls_timer = None
        tls = self._ng_tls
        if tls is None or tls._closed or tls.phase != HANDSHAKE:
            return
        exc = TimeoutError(
            errno.ETIMEDOUT, f"the TLS handshake did not complete within {self._ng_tls_timeout}s"
        )
        guarded_call(self, self._ng_tls_fail, exc)

    def _ng_tls_fail(self, exc: BaseException) -> None:
        tls = self._ng_tls
        if tls is None or tls.phase == FAILED or tls._closed:
            return
        during = "handshake" if tls.phase != ESTABLISHED else "connection"
        tls.phase = FAILED
        if self._ng_tls_timer is not None:
            self._ng_tls_timer.cancel()
            self._ng_tls_timer = None
        tls.flush()  # the alert, if OpenSSL wrote one
        mundane = isinstance(exc, ConnectionError) and not isinstance(exc, ssl.SSLError)
        peer = self.addr
        logger.log(
            logging.INFO if mundane else logging.WARNING,
            "closing %r (peer %r): TLS %s failed: %s",
            self,
            peer,
            during,
            exc,
        )
        self._ng_tls_sync()
        self.handle_tls_error(exc)

    def _ng_flush_before_close(self) -> bool:
        # (BufferedOutput's, at end of input with output queued: deliver it, then close.) With
        # TLS on, a peer that stopped reading must not hold the channel open for ever: the
        # flush gets ng_tls_shutdown_timeout seconds, as the final close_notify does.
        flushing: bool = super()._ng_flush_before_close()  # type: ignore[misc]
        if flushing and self._ng_tls is not None and self._ng_tls_timer is None:
            self._ng_tls_timer = self._ng_reactor().call_later(
                self.ng_tls_shutdown_timeout, weak_callback(self, "_ng_tls_flush_timed_out")
            )
        return flushing

    def _ng_tls_flush_timed_out(self) -> None:
        self._ng_tls_timer = None
        tls = self._ng_tls
        if tls is None or tls._closed:
            return
        logger.info(
            "%r: the peer did not take the rest of the output after its end of input within %ss; closing",
            self,
            self.ng_tls_shutdown_timeout,
        )
        tls._error = TimeoutError(errno.ETIMEDOUT, "the peer stopped reading")  # close at once
        guarded_call(self, self.close)

    def close(self) -> None:
        if self._ng_handoff and self._ng_close_waits(TLSMixin.close):
            return
        if self._ng_tls_timer is not None:
            self._ng_tls_timer.cancel()
            self._ng_tls_timer = None
        super().close()


class _TLSCloser(Dispatcher):
    """Sends what a closed TLS channel left for the kernel (its last ciphertext and
    ``close_notify``), for at most ``timeout`` seconds, then closes the socket. Internal: it
    lives in the channel's map so that ``loop()`` runs until it is done."""

    def __init__(self, sock: socket.socket, left: bytearray, map: ChannelMapType, timeout: float) -> None:
        self._ng_left = left
        # If the map is dropped without closing us (close_all() while we were being made),
        # the socket is still closed when we are collected.
        weakref.finalize(self, sock.close)
        super().__init__(sock, map)
        self._ng_timer: Optional[TimerHandle] = self._ng_reactor().call_later(
            timeout, weak_callback(self, "_ng_give_up")
        )

    @state_predicate
    def readable(self) -> bool:
        return True  # input is dropped: a reset or the end of input ends the wait

    @state_predicate
    def writable(self) -> bool:
        return bool(self._ng_left)

    def handle_read(self) -> None:
        self.recv(65536)

    def handle_write(self) -> None:
        sent = self.send(self._ng_left)
        if sent:
            del self._ng_left[:sent]
        if not self._ng_left:
            self.close()

    def _ng_give_up(self) -> None:
        self._ng_timer = None
        logger.info("%r: the peer did not take the end of the TLS stream in time; closing", self)
        self.close()

    def _ng_cancel_timer(self) -> None:
        if self._ng_timer is not None:
            self._ng_timer.cancel()
            self._ng_timer = None

    def handle_close(self) -> None:
        self.close()

    def handle_error(self) -> None:
        logger.debug("%r: error while sending the end of a TLS stream", self, exc_info=True)
        self.close()

    def close(self) -> None:
        self._ng_cancel_timer()
        sock = self.socket
        if sock is not None:
            self.del_channel()
            self.socket = None
            _drain_and_close(sock)


class TLSDispatcher(TLSMixin, Dispatcher):
    """``Dispatcher`` with :class:`TLSMixin`."""


class TLSDispatcherWithSend(TLSMixin, DispatcherWithSend):
    """``DispatcherWithSend`` (``dispatcher_with_send``) with :class:`TLSMixin`."""


class TLSAsyncChat(TLSMixin, AsyncChat):
    """``AsyncChat`` (``async_chat``) with :class:`TLSMixin`."""
