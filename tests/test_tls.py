"""TLS channels (issue #10): ``asyncore_ng.tls`` against real peers on loopback.

Certificates are minted at test time (trustme). Peers: blocking ``ssl`` clients and servers in
threads, asyncio, ``smtplib``, our own channels, and raw sockets that stall, send garbage or
plain text. The examples run as subprocesses exactly as documented. Every wait is on a
condition with a deadline (``run_until``, thread joins with timeouts), never on a sleep.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import logging
import os
import signal
import site
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
import warnings
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest

with warnings.catch_warnings():
    # cryptography (under trustme) warns at import that it will drop Python 3.8.
    warnings.filterwarnings("ignore", message="Python 3.8 is no longer supported")
    import trustme
from conftest import run_until

import asyncore_ng
from asyncore_ng import loop as channels
from asyncore_ng.buffered import DispatcherWithSend
from asyncore_ng.chat import AsyncChat
from asyncore_ng.dispatcher import Dispatcher
from asyncore_ng.tls import TLSMixin, TLSSocket

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")
DEADLINE = 30.0
MIB = 1 << 20


# -- certificates ---------------------------------------------------------------------------


class Certs:
    def __init__(self, folder: str) -> None:
        self.ca = trustme.CA()
        self.other_ca = trustme.CA()  # signs nothing we trust
        issued = self.ca.issue_cert("localhost", "127.0.0.1")
        self.certfile = os.path.join(folder, "server.pem")
        self.keyfile = os.path.join(folder, "server.key")
        self.cafile = os.path.join(folder, "ca.pem")
        issued.cert_chain_pems[0].write_to_path(self.certfile)
        issued.private_key_pem.write_to_path(self.keyfile)
        self.ca.cert_pem.write_to_path(self.cafile)
        self.untrusted = self.other_ca.issue_cert("localhost", "127.0.0.1")

    def server_context(self, alpn: Optional[List[str]] = None, untrusted: bool = False) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        if untrusted:
            self.untrusted.configure_cert(ctx)
        else:
            ctx.load_cert_chain(self.certfile, self.keyfile)
        if alpn:
            ctx.set_alpn_protocols(alpn)
        return ctx

    def client_context(self, trusted: bool = True, alpn: Optional[List[str]] = None) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        (self.ca if trusted else self.other_ca).configure_trust(ctx)
        if alpn:
            ctx.set_alpn_protocols(alpn)
        return ctx


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return Certs(str(tmp_path_factory.mktemp("certs")))


# -- channels used by the tests ---------------------------------------------------------------


class Recorder:
    """What a channel went through (the tests' view of the hooks)."""

    def __init__(self) -> None:
        self.established = 0
        self.tls_errors: List[BaseException] = []
        self.closes = 0
        self.handle_errors: List[BaseException] = []
        self.received = bytearray()


class EchoWithSend(TLSMixin, DispatcherWithSend):
    read_size = 65536

    def __init__(self, sock: socket.socket, context: ssl.SSLContext, **tls: Any) -> None:
        self.record = Recorder()
        super().__init__(sock)
        self.start_tls(context, server_side=True, **tls)

    def handle_tls_established(self) -> None:
        self.record.established += 1

    def handle_tls_error(self, exc: BaseException) -> None:
        self.record.tls_errors.append(exc)
        super().handle_tls_error(exc)

    def handle_read(self) -> None:
        data = self.recv(self.read_size)
        if data:
            self.record.received += data
            self.send(data)

    def handle_close(self) -> None:
        self.record.closes += 1
        super().handle_close()

    def handle_error(self) -> None:
        self.record.handle_errors.append(sys.exc_info()[1])  # type: ignore[arg-type]
        super().handle_error()


class EchoPlainDispatcher(TLSMixin, Dispatcher):
    """On the bare dispatcher: its own buffer, its own (polled) writable()."""

    def __init__(self, sock: socket.socket, context: ssl.SSLContext, **tls: Any) -> None:
        self.record = Recorder()
        self.pending = b""
        super().__init__(sock)
        self.start_tls(context, server_side=True, **tls)

    def handle_tls_established(self) -> None:
        self.record.established += 1

    def writable(self) -> bool:
        return bool(self.pending)

    def handle_read(self) -> None:
        data = self.recv(65536)
        self.record.received += data
        self.pending += data

    def handle_write(self) -> None:
        sent = self.send(self.pending)
        self.pending = self.pending[sent:]

    def handle_close(self) -> None:
        self.record.closes += 1
        self.close()

    def handle_error(self) -> None:
        self.record.handle_errors.append(sys.exc_info()[1])  # type: ignore[arg-type]
        super().handle_error()


class LineEchoChat(TLSMixin, AsyncChat):
    """async_chat echoing lines (terminator b"\\n")."""

    def __init__(self, sock: socket.socket, context: ssl.SSLContext, **tls: Any) -> None:
        self.record = Recorder()
        self.parts: List[bytes] = []
        super().__init__(sock)
        self.set_terminator(b"\n")
        self.start_tls(context, server_side=True, **tls)

    def handle_tls_established(self) -> None:
        self.record.established += 1

    def collect_incoming_data(self, data: bytes) -> None:
        self.parts.append(data)

    def found_terminator(self) -> None:
        line = b"".join(self.parts) + b"\n"
        self.parts = []
        self.record.received += line
        self.push(line)

    def handle_error(self) -> None:
        self.record.handle_errors.append(sys.exc_info()[1])  # type: ignore[arg-type]
        super().handle_error()


def _shim_echo_class() -> type:
    import asyncore

    class ShimEcho(TLSMixin, asyncore.dispatcher_with_send):  # type: ignore[misc,name-defined]
        def __init__(self, sock: socket.socket, context: ssl.SSLContext, **tls: Any) -> None:
            self.record = Recorder()
            asyncore.dispatcher_with_send.__init__(self, sock)
            self.start_tls(context, server_side=True, **tls)

        def handle_tls_established(self) -> None:
            self.record.established += 1

        def handle_read(self) -> None:
            data = self.recv(8192)
            if data:
                self.record.received += data
                self.send(data)

        def handle_error(self) -> None:
            self.record.handle_errors.append(sys.exc_info()[1])
            asyncore.dispatcher_with_send.handle_error(self)

    return ShimEcho


class Listener(Dispatcher):
    def __init__(self, factory: Callable[[socket.socket], Any]) -> None:
        super().__init__()
        self.factory = factory
        self.handlers: List[Any] = []
        self.create_socket()
        self.set_reuse_addr()
        self.bind(("127.0.0.1", 0))
        self.listen()
        self.port: int = self.socket.getsockname()[1]

    def handle_accepted(self, sock: socket.socket, addr: Any) -> None:
        self.handlers.append(self.factory(sock))


class Client(TLSMixin, DispatcherWithSend):
    """Our TLS client: sends ``payload`` once connected, collects what comes back."""

    def __init__(
        self, port: int, context: Optional[ssl.SSLContext], hostname: Optional[str], payload: bytes
    ) -> None:
        self.record = Recorder()
        super().__init__()
        self.create_socket()
        self.start_tls(context, server_hostname=hostname)
        self.connect(("127.0.0.1", port))
        self.send(payload)  # queued until the handshake is done

    def handle_connect(self) -> None:
        pass

    def handle_tls_established(self) -> None:
        self.record.established += 1

    def handle_tls_error(self, exc: BaseException) -> None:
        self.record.tls_errors.append(exc)
        super().handle_tls_error(exc)

    def handle_read(self) -> None:
        self.record.received += self.recv(65536)

    def handle_close(self) -> None:
        self.record.closes += 1
        self.close()

    def handle_error(self) -> None:
        self.record.handle_errors.append(sys.exc_info()[1])  # type: ignore[arg-type]
        super().handle_error()


def small_window_connection(port: int) -> socket.socket:
    """A blocking connection whose receive buffer is set small before connecting (a peer that
    cannot take much before it reads)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(DEADLINE)
    sock.connect(("127.0.0.1", port))
    return sock


def in_map(channel: Any) -> bool:
    return any(obj is channel for obj in channels.socket_map.values())


def drive(fn: Callable[[], Any], timeout: float = DEADLINE, use_poll: bool = False) -> Any:
    """Run ``fn`` in a thread while this thread runs the loop; its result, or its exception."""
    result: Dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = fn()
        except BaseException as exc:
            result["error"] = exc

    thread = threading.Thread(target=target, name="tls-test-peer")
    thread.start()
    try:
        run_until(lambda: not thread.is_alive(), timeout=timeout, use_poll=use_poll)
    finally:
        thread.join(timeout)
    if "error" in result:
        raise result["error"]
    return result.get("value")


def blocking_echo(
    port: int, context: ssl.SSLContext, payload: bytes, hostname: str = "localhost"
) -> Tuple[bytes, Dict[str, Any]]:
    """A blocking ssl client: send ``payload``, read as much back, close with close_notify."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
    with raw, context.wrap_socket(raw, server_hostname=hostname) as conn:
        conn.sendall(payload)
        got = bytearray()
        while len(got) < len(payload):
            data = conn.recv(MIB)
            if not data:
                break
            got += data
        info = {"version": conn.version(), "cipher": conn.cipher(), "alpn": conn.selected_alpn_protocol()}
        conn.unwrap()
    return bytes(got), info


def client_hello(context: ssl.SSLContext, hostname: str = "localhost") -> Tuple[ssl.SSLObject, Any, bytes]:
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = context.wrap_bio(incoming, outgoing, server_hostname=hostname)
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    return obj, incoming, outgoing.read()


# -- handshake both ways -------------------------------------------------------------------------

HANDLERS = {
    "dispatcher_with_send": EchoWithSend,
    "dispatcher": EchoPlainDispatcher,
    "async_chat": LineEchoChat,
    "asyncore.dispatcher_with_send": None,  # built on first use (imports the shim)
}


@pytest.mark.parametrize("kind", sorted(HANDLERS))
def test_server_side_handshake_and_echo_for_each_channel_class(
    kind: str, certs: Certs, use_poll: bool
) -> None:
    cls = HANDLERS[kind] or _shim_echo_class()
    context = certs.server_context(alpn=["echo/1"])
    listener = Listener(lambda sock: cls(sock, context))
    payload = b"".join(b"line %d of the test\n" % i for i in range(2000))  # ~40 KB
    got, info = drive(
        lambda: blocking_echo(listener.port, certs.client_context(alpn=["echo/1"]), payload),
        use_poll=use_poll,
    )
    assert got == payload
    assert info["version"] in ("TLSv1.2", "TLSv1.3")
    assert info["alpn"] == "echo/1"
    (handler,) = listener.handlers
    assert handler.record.established == 1
    assert bytes(handler.record.received) == payload
    assert handler.record.handle_errors == []
    assert isinstance(handler.socket, TLSSocket)
    assert handler.socket.selected_alpn_protocol() == "echo/1"
    assert handler.socket.version() == info["version"]
    assert handler.socket.cipher()[0] == info["cipher"][0]
    assert handler.socket.getpeercert() is None  # the client sent no certificate
    run_until(lambda: not in_map(handler), use_poll=use_poll)  # the client's close ends it
    listener.close()


def test_client_side_handshake_against_a_blocking_ssl_server(certs: Certs) -> None:
    seen: Dict[str, Any] = {}
    server_ctx = certs.server_context(alpn=["echo/1", "other"])

    def sni(obj: ssl.SSLObject, name: Optional[str], ctx: ssl.SSLContext) -> None:
        seen["sni"] = name

    server_ctx.sni_callback = sni  # type: ignore[assignment]
    lsock = socket.create_server(("127.0.0.1", 0)) if hasattr(socket, "create_server") else None
    assert lsock is not None
    port = lsock.getsockname()[1]

    def serve() -> None:
        lsock.settimeout(DEADLINE)
        conn, _ = lsock.accept()
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            tls.settimeout(DEADLINE)
            data = b""
            while not data.endswith(b"\n"):
                data += tls.recv(4096)
            tls.sendall(data.upper())
            seen["client_closed"] = tls.recv(10)  # our close_notify: b""
            tls.unwrap()

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        client = Client(port, certs.client_context(alpn=["echo/1"]), None, b"hello over tls\n")
        client.addr = ("localhost", port)  # what connect() would record for a host name
        run_until(lambda: bytes(client.record.received) == b"HELLO OVER TLS\n")
        assert client.record.established == 1
        assert client.socket.getpeercert()["subjectAltName"][0] == ("DNS", "localhost")
        assert client.socket.selected_alpn_protocol() == "echo/1"
        client.close()
        run_until(lambda: not thread.is_alive())
    finally:
        thread.join(DEADLINE)
        lsock.close()
    assert seen["sni"] == "localhost"  # server_hostname defaulted to the host connected to
    assert seen["client_closed"] == b""


def test_both_sides_are_ours_in_one_loop(certs: Certs) -> None:
    listener = Listener(lambda sock: LineEchoChat(sock, certs.server_context(alpn=["x"])))
    payload = os.urandom(100_000).replace(b"\n", b"") + b"\n"
    client = Client(listener.port, certs.client_context(alpn=["x"]), "localhost", payload)
    run_until(lambda: len(client.record.received) == len(payload))
    assert bytes(client.record.received) == payload
    assert client.record.established == 1 and listener.handlers[0].record.established == 1
    assert client.socket.selected_alpn_protocol() == "x"
    client.close()
    run_until(lambda: not in_map(listener.handlers[0]))
    listener.close()


# -- certificates that must fail ------------------------------------------------------------------


def test_untrusted_certificate_fails_cleanly(
    certs: Certs, caplog: pytest.LogCaptureFixture, capsys: Any
) -> None:
    caplog.set_level(logging.INFO, logger="asyncore_ng")
    listener = Listener(lambda sock: EchoWithSend(sock, certs.server_context()))
    with pytest.raises(ssl.SSLCertVerificationError) as info:
        drive(lambda: blocking_echo(listener.port, certs.client_context(trusted=False), b"x"))
    assert "certificate verify failed" in str(info.value)
    (bad,) = listener.handlers
    run_until(lambda: not in_map(bad))
    assert bad.record.established == 0 and len(bad.record.tls_errors) == 1
    assert isinstance(bad.record.tls_errors[0], ssl.SSLError)
    assert bad.record.handle_errors == []
    assert any("TLS handshake failed" in r.getMessage() for r in caplog.records)
    # The server keeps serving.
    got, _ = drive(lambda: blocking_echo(listener.port, certs.client_context(), b"still here"))
    assert got == b"still here"
    out = capsys.readouterr()
    assert "Traceback" not in out.err and "uncaptured" not in out.out
    listener.close()


def test_our_client_reports_an_untrusted_server_and_a_wrong_hostname(certs: Certs) -> None:
    good = Listener(lambda sock: EchoWithSend(sock, certs.server_context()))
    untrusted = Listener(lambda sock: EchoWithSend(sock, certs.server_context(untrusted=True)))
    wrong_name = Client(good.port, certs.client_context(), "wrong.example", b"x")
    not_trusted = Client(untrusted.port, certs.client_context(), "localhost", b"x")
    run_until(lambda: not in_map(wrong_name) and not in_map(not_trusted))
    for client, words in ((wrong_name, "Hostname mismatch"), (not_trusted, "certificate verify failed")):
        (exc,) = client.record.tls_errors
        assert isinstance(exc, ssl.SSLCertVerificationError)
        assert words in str(exc)
        assert client.record.established == 0 and client.record.handle_errors == []
    run_until(lambda: all(not in_map(h) for h in good.handlers + untrusted.handlers))
    for handler in good.handlers + untrusted.handlers:
        assert handler.record.established == 0 and handler.record.handle_errors == []
    good.close()
    untrusted.close()


def test_blocking_client_with_a_wrong_hostname(certs: Certs) -> None:
    listener = Listener(lambda sock: EchoWithSend(sock, certs.server_context()))
    with pytest.raises(ssl.SSLCertVerificationError, match=r"Hostname mismatch|doesn't match"):
        drive(lambda: blocking_echo(listener.port, certs.client_context(), b"x", hostname="wrong.example"))
    run_until(lambda: all(not in_map(h) for h in listener.handlers))
    assert listener.handlers[0].record.handle_errors == []
    listener.close()


# -- peers that misbehave ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "what",
    [
        b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n",
        b"EHLO plain.example\r\n",
        bytes(range(256)) * 8,
        b"\x16\x03\x01\x00\x05hello-garbage-after-a-record-header" * 10,
    ],
    ids=["http", "smtp", "garbage", "bad-record"],
)
def test_plain_text_and_garbage_on_the_tls_port(
    what: bytes, certs: Certs, caplog: pytest.LogCaptureFixture, capsys: Any
) -> None:
    caplog.set_level(logging.INFO, logger="asyncore_ng")
    listener = Listener(lambda sock: EchoWithSend(sock, certs.server_context()))
    with socket.create_connection(("127.0.0.1", listener.port), timeout=DEADLINE) as peer:
        peer.sendall(what)
        run_until(lambda: len(listener.handlers) == 1 and not in_map(listener.handlers[0]))
        answer = b""
        try:
            while True:
                data = peer.recv(4096)  # at most an alert, then the end
                if not data:
                    break
                answer += data
        except ConnectionResetError:
            pass
        assert not answer or answer[:1] == b"\x15"  # a TLS alert record, if anything
    (handler,) = listener.handlers
    assert len(handler.record.tls_errors) == 1 and handler.record.handle_errors == []
    assert handler.record.received == b""
    assert any("TLS handshake failed" in r.getMessage() for r in caplog.records)
    got, _ = drive(lambda: blocking_echo(listener.port, certs.client_context(), b"next client"))
    assert got == b"next client"
    out = capsys.readouterr()
    assert "Traceback" not in out.err and "uncaptured" not in out.out
    listener.close()


def test_a_stalled_handshake_is_dropped_while_others_are_served(
    certs: Certs, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="asyncore_ng")
    listener = Listener(lambda sock: EchoWithSend(sock, certs.server_context(), handshake_timeout=1.0))
    _, _, hello = client_hello(certs.client_context())
    with socket.create_connection(("127.0.0.1", listener.port), timeout=DEADLINE) as staller:
        staller.sendall(hello[: len(hello) // 2])  # half a ClientHello, then silence
        started = time.monotonic()
        run_until(lambda: len(listener.handlers) == 1)
        stalled = listener.handlers[0]
        for i in range(3):
            message = b"served %d" % i
            got, _ = drive(lambda m=message: blocking_echo(listener.port, certs.client_context(), m))  # type: ignore[misc]
            assert got == message
        served_at = time.monotonic()
        assert in_map(stalled)  # the others were served while it stalled
        run_until(lambda: not in_map(stalled))
        dropped_at = time.monotonic()
        assert staller.recv(100) == b""
    assert dropped_at - started >= 0.9
    assert served_at < dropped_at
    (exc,) = stalled.record.tls_errors
    assert isinstance(exc, TimeoutError)
    assert any("did not complete within 1.0s" in r.getMessage() for r in caplog.records)
    assert stalled.record.handle_errors == []
    listener.close()


def test_peer_ending_without_close_notify_is_an_end_of_input(
    certs: Certs, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="asyncore_ng")
    listener = Listener(lambda sock: EchoWithSend(sock, certs.server_context()))

    def rude() -> bytes:
        raw = socket.create_connection(("127.0.0.1", listener.port), timeout=DEADLINE)
        conn = certs.client_context().wrap_socket(raw, server_hostname="localhost")
        conn.sendall(b"bye")
        data = conn.recv(10)
        # close the TCP connection under the TLS layer: no close_notify
        sock = socket.socket(fileno=conn.detach())
        sock.close()
        return data

    assert drive(rude) == b"bye"
    (handler,) = listener.handlers
    run_until(lambda: not in_map(handler))
    assert (
        handler.record.closes == 1 and handler.record.tls_errors == [] and handler.record.handle_errors == []
    )
    # (The TCP end of input is judged by us, not by OpenSSL: told apart on every version.)
    assert any("without a TLS close_notify" in r.getMessage() for r in caplog.records)
    listener.close()


def test_a_reset_after_the_handshake_closes_cleanly(certs: Certs, capsys: Any) -> None:
    listener = Listener(lambda sock: EchoWithSend(sock, certs.server_context()))

    def resetter() -> None:
        raw = socket.create_connection(("127.0.0.1", listener.port), timeout=DEADLINE)
        conn = certs.client_context().wrap_socket(raw, server_hostname="localhost")
        conn.sendall(b"x" * 1000)
        assert conn.recv(1000)
        conn.sendall(b"y" * 100_000)  # the server is busy echoing when the reset comes
        sock = socket.socket(fileno=conn.detach())
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()  # RST

    drive(resetter)
    (handler,) = listener.handlers
    run_until(lambda: not in_map(handler))
    assert handler.record.closes >= 1 and handler.record.handle_errors == []
    assert "Traceback" not in capsys.readouterr().err
    listener.close()


# -- what the loop sees ----------------------------------------------------------------------


def test_decrypted_data_is_redelivered_without_a_kernel_event(certs: Certs) -> None:
    class SmallReads(EchoWithSend):
        read_size = 100  # far less than a record: the rest waits in the TLS layer

    listener = Listener(lambda sock: SmallReads(sock, certs.server_context()))
    reactor = channels.get_reactor()
    before = reactor.statistics()["ready_again"]
    payload = os.urandom(300_000)
    got, _ = drive(lambda: blocking_echo(listener.port, certs.client_context(), payload))
    assert got == payload
    # Each kernel read brings up to 256 KiB, handed out 100 bytes a pass.
    assert reactor.statistics()["ready_again"] - before > 1000
    assert listener.handlers[0].record.handle_errors == []
    listener.close()


@pytest.mark.parametrize("kind", ["dispatcher_with_send", "async_chat"])
def test_an_idle_tls_connection_costs_no_loop_passes(kind: str, certs: Certs, use_poll: bool) -> None:
    cls = EchoWithSend if kind == "dispatcher_with_send" else LineEchoChat
    listener = Listener(lambda sock: cls(sock, certs.server_context()))
    done = threading.Event()
    ready = threading.Event()
    errors: List[BaseException] = []

    def idle_client() -> None:
        try:
            raw = socket.create_connection(("127.0.0.1", listener.port), timeout=DEADLINE)
            with raw, certs.client_context().wrap_socket(raw, server_hostname="localhost") as conn:
                conn.sendall(b"ping\n")
                assert conn.recv(10) == b"ping\n"
                ready.set()
                done.wait(DEADLINE)
                conn.unwrap()
        except BaseException as exc:
            errors.append(exc)
            ready.set()

    thread = threading.Thread(target=idle_client)
    thread.start()
    try:
        run_until(ready.is_set, use_poll=use_poll)
        run_until(lambda: True, use_poll=use_poll)  # let the last write settle
        reactor = channels.get_reactor()
        assert reactor.statistics()["timers"] == 0  # the handshake timeout is gone
        before = reactor.statistics()
        reactor.call_later(1.0, reactor.stop)
        channels.loop(timeout=30.0, use_poll=use_poll)  # returns when stopped
        after = reactor.statistics()
    finally:
        done.set()
        run_until(lambda: not thread.is_alive(), use_poll=use_poll)
        thread.join(DEADLINE)
    assert errors == []
    assert after["passes"] - before["passes"] <= 2  # the one that waited for the stop
    assert after["events"] == before["events"]
    assert after["ready_again"] == before["ready_again"]
    listener.close()


# -- STARTTLS ------------------------------------------------------------------------------------


def _load_example(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"example_{name}", os.path.join(EXAMPLES, name + ".py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _read_line(sock: socket.socket) -> bytes:
    line = b""
    while not line.endswith(b"\r\n"):
        data = sock.recv(1)
        assert data, f"connection ended after {line!r}"
        line += data
    return line


def _tls_over_blocking(
    sock: socket.socket, obj: ssl.SSLObject, incoming: ssl.MemoryBIO, outgoing: ssl.MemoryBIO
) -> Callable[[bytes], bytes]:
    """Finish a memory-BIO handshake on a blocking socket; returns ``request(data) -> line``."""
    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            pending = outgoing.read()
            if pending:
                sock.sendall(pending)
            data = sock.recv(65536)
            assert data, "connection ended during the handshake"
            incoming.write(data)
    pending = outgoing.read()
    if pending:
        sock.sendall(pending)

    def request(data: bytes) -> bytes:
        obj.write(data)
        sock.sendall(outgoing.read())
        reply = b""
        while not reply.endswith(b"\r\n"):
            try:
                reply += obj.read(65536)
            except ssl.SSLWantReadError:
                chunk = sock.recv(65536)
                assert chunk, "connection ended"
                incoming.write(chunk)
        return reply

    return request


def test_starttls_with_bytes_pipelined_after_the_command(certs: Certs) -> None:
    smtp = _load_example("starttls_server")
    lines: List[bytes] = []

    class Recording(smtp.SMTPChannel):  # type: ignore[name-defined,misc]
        def found_terminator(self) -> None:
            lines.append(b"".join(self.line))
            super().found_terminator()

    class Server(smtp.SMTPServer):  # type: ignore[name-defined,misc]
        def handle_accepted(self, sock: socket.socket, addr: Any) -> None:
            Recording(sock, self.context)

    server = Server("127.0.0.1", 0, certs.server_context())
    port = server.socket.getsockname()[1]

    def client() -> List[bytes]:
        replies = []
        with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as sock:
            replies.append(_read_line(sock))
            incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
            obj = certs.client_context().wrap_bio(incoming, outgoing, server_hostname="localhost")
            with pytest.raises(ssl.SSLWantReadError):
                obj.do_handshake()
            # One write: a command, STARTTLS, and the ClientHello right behind it.
            sock.sendall(b"NOOP\r\nSTARTTLS\r\n" + outgoing.read())
            replies.append(_read_line(sock))  # 250 for NOOP, in plain
            replies.append(_read_line(sock))  # 220 for STARTTLS, in plain
            request = _tls_over_blocking(sock, obj, incoming, outgoing)
            replies.append(request(b"NOOP\r\n"))
            replies.append(request(b"EHLO client.example\r\n"))
            replies.append(obj.version().encode())
            replies.append(request(b"QUIT\r\n"))
        return replies

    replies = drive(client)
    assert replies[0].startswith(b"220 ")
    assert replies[1] == b"250 OK\r\n"
    assert replies[2].startswith(b"220 ")
    assert replies[3] == b"250 OK\r\n"
    assert replies[4].startswith(b"250-localhost") and b"STARTTLS" not in replies[4]
    assert replies[5] in (b"TLSv1.2", b"TLSv1.3")
    assert replies[6].startswith(b"221 ")
    # The parser saw the commands, each once, and never a byte of the handshake.
    assert lines == [b"NOOP", b"STARTTLS", b"NOOP", b"EHLO client.example", b"QUIT"]
    run_until(lambda: len(channels.socket_map) == 1)
    server.close()


def test_starttls_sends_queued_plain_output_first(certs: Certs) -> None:
    """Output queued before start_tls() (a slow socket, say) goes out in plain first."""

    class Upgrading(TLSMixin, DispatcherWithSend):
        def handle_read(self) -> None:
            data = self.recv(100)
            if data == b"STARTTLS\r\n":
                self.out_buffer = b"220 go ahead\r\n"  # queued, not yet sent
                self.start_tls(certs.server_context(), server_side=True)
            elif data:
                self.send(data)

    listener = Listener(Upgrading)

    def client() -> bytes:
        with socket.create_connection(("127.0.0.1", listener.port), timeout=DEADLINE) as sock:
            sock.sendall(b"STARTTLS\r\n")
            assert _read_line(sock) == b"220 go ahead\r\n"
            with certs.client_context().wrap_socket(sock, server_hostname="localhost") as conn:
                conn.sendall(b"secret")
                return conn.recv(100)

    assert drive(client) == b"secret"
    listener.close()


# -- shutdown -------------------------------------------------------------------------------------


def test_close_when_done_sends_everything_then_close_notify(certs: Certs) -> None:
    size = 8 * MIB

    class Sender(TLSMixin, AsyncChat):
        def __init__(self, sock: socket.socket) -> None:
            super().__init__(sock)
            self.set_terminator(b"\n")
            self.start_tls(certs.server_context(), server_side=True)

        def collect_incoming_data(self, data: bytes) -> None:
            pass

        def found_terminator(self) -> None:
            self.push(_pattern(size))
            self.close_when_done()

    listener = Listener(Sender)

    def reader() -> bytes:
        with socket.create_connection(("127.0.0.1", listener.port), timeout=DEADLINE) as raw:
            conn = certs.client_context().wrap_socket(
                raw, server_hostname="localhost", suppress_ragged_eofs=False
            )
            conn.sendall(b"send\n")
            got = bytearray()
            while True:
                data = conn.recv(MIB)  # raises SSLEOFError if the end came without close_notify
                if not data:
                    break
                got += data
            conn.close()
            return bytes(got)

    assert drive(reader) == _pattern(size)
    run_until(lambda: len(channels.socket_map) == 1)
    listener.close()


def test_ciphertext_left_at_close_is_delivered_with_close_notify(certs: Certs) -> None:
    class Sender(TLSMixin, DispatcherWithSend):
        def __init__(self, sock: socket.socket) -> None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)  # less than one chunk
            super().__init__(sock)
            self.start_tls(certs.server_context(), server_side=True)

        def handle_read(self) -> None:
            if self.recv(100):
                self.send(_pattern(4 * MIB))
                # The kernel took part of the first chunk; TLS holds the rest of its ciphertext.
                # close() drops out_buffer (as the stdlib does), not what TLS has encrypted.
                assert self.socket.waiting()
                self.close()

    listener = Listener(Sender)
    with small_window_connection(listener.port) as raw:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = certs.client_context().wrap_bio(incoming, outgoing, server_hostname="localhost")
        drive(lambda: _tls_over_blocking(raw, obj, incoming, outgoing))
        obj.write(b"go")
        raw.sendall(outgoing.read())
        run_until(lambda: len(listener.handlers) == 1 and not in_map(listener.handlers[0]))
        lingering = len(channels.socket_map) - 1  # the internal closer holds the socket
        assert lingering == 1

        def read_to_the_end() -> Tuple[int, bool]:
            total = 0
            while True:
                try:
                    data = obj.read(MIB)
                    if not data:
                        return total, True  # close_notify
                    total += len(data)
                except ssl.SSLWantReadError:
                    data = raw.recv(MIB)
                    if not data:
                        return total, False  # the end came without close_notify
                    incoming.write(data)
                except ssl.SSLZeroReturnError:
                    return total, True  # close_notify

        total, clean = drive(read_to_the_end)
    assert clean and 0 < total <= 65536  # what TLS had encrypted (one chunk), then close_notify
    run_until(lambda: len(channels.socket_map) == 1)
    listener.close()


def test_the_final_flush_is_bounded_by_the_shutdown_timeout(
    certs: Certs, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="asyncore_ng")

    class Sender(TLSMixin, DispatcherWithSend):
        ng_tls_shutdown_timeout = 0.5

        def __init__(self, sock: socket.socket) -> None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)
            super().__init__(sock)
            self.start_tls(certs.server_context(), server_side=True)

        def handle_tls_established(self) -> None:
            self.send(b"q" * (4 * MIB))

        def handle_read(self) -> None:
            self.recv(100)
            self.close()  # drop the channel with output queued in the TLS layer

    listener = Listener(Sender)
    with small_window_connection(listener.port) as raw:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = certs.client_context().wrap_bio(incoming, outgoing, server_hostname="localhost")
        drive(lambda: _tls_over_blocking(raw, obj, incoming, outgoing))
        obj.write(b"close now")
        raw.sendall(outgoing.read())
        started = time.monotonic()
        run_until(lambda: len(channels.socket_map) == 1)  # never read: the closer gives up
        assert time.monotonic() - started >= 0.4
    assert any("did not take the end of the TLS stream" in r.getMessage() for r in caplog.records)
    listener.close()


def _read_all_tls(sock: socket.socket, obj: ssl.SSLObject, incoming: ssl.MemoryBIO) -> Tuple[bytes, str]:
    """Read plaintext until the connection ends: ``(data, how it ended)``."""
    got = bytearray()
    while True:
        try:
            chunk = obj.read(MIB)
            if not chunk:
                return bytes(got), "close_notify"
            got += chunk
            continue
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLZeroReturnError:
            return bytes(got), "close_notify"
        except ssl.SSLError as exc:
            return bytes(got), f"TLS error: {exc}"
        data = sock.recv(MIB)
        if not data:
            return bytes(got), "end of input"
        incoming.write(data)


@pytest.mark.parametrize("kind", ["dispatcher_with_send", "async_chat"])
def test_a_half_close_without_close_notify_still_gets_the_whole_answer(certs: Certs, kind: str) -> None:
    """The HTTP-client shape: the peer sends its request, then shuts down its sending side at
    the TCP level (no close_notify), and reads the answer. All 4 MiB queued for it arrive,
    followed by close_notify; OpenSSL must not have been told that the input ended."""
    answer = _pattern(4 * MIB)

    class Answer(TLSMixin, DispatcherWithSend):
        def __init__(self, sock: socket.socket) -> None:
            super().__init__(sock)
            self.start_tls(certs.server_context(), server_side=True)

        def handle_read(self) -> None:
            if self.recv(65536) == b"GET":
                self.send(answer)

    class ChatAnswer(TLSMixin, AsyncChat):
        def __init__(self, sock: socket.socket) -> None:
            super().__init__(sock)
            self.set_terminator(b"\n")
            self.start_tls(certs.server_context(), server_side=True)

        def collect_incoming_data(self, data: bytes) -> None:
            pass

        def found_terminator(self) -> None:
            self.push(answer)

    listener = Listener(Answer if kind == "dispatcher_with_send" else ChatAnswer)

    def client() -> Tuple[bytes, str]:
        with small_window_connection(listener.port) as raw:
            incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
            obj = certs.client_context().wrap_bio(incoming, outgoing, server_hostname="localhost")
            _tls_over_blocking(raw, obj, incoming, outgoing)
            obj.write(b"GET" if kind == "dispatcher_with_send" else b"GET\n")
            raw.sendall(outgoing.read())
            raw.shutdown(socket.SHUT_WR)  # our end of input, without close_notify
            return _read_all_tls(raw, obj, incoming)

    got, ending = drive(client)
    assert len(got) == len(answer) and got == answer
    assert ending == "close_notify"
    run_until(lambda: len(channels.socket_map) == 1)
    listener.close()


def test_the_flush_after_a_half_close_is_bounded_by_the_shutdown_timeout(
    certs: Certs, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="asyncore_ng")

    class Answer(TLSMixin, DispatcherWithSend):
        ng_tls_shutdown_timeout = 0.5

        def __init__(self, sock: socket.socket) -> None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)
            super().__init__(sock)
            self.start_tls(certs.server_context(), server_side=True)

        def handle_read(self) -> None:
            if self.recv(65536):
                self.send(b"q" * (4 * MIB))

    listener = Listener(Answer)
    with small_window_connection(listener.port) as raw:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = certs.client_context().wrap_bio(incoming, outgoing, server_hostname="localhost")
        drive(lambda: _tls_over_blocking(raw, obj, incoming, outgoing))
        obj.write(b"GET")
        raw.sendall(outgoing.read())
        raw.shutdown(socket.SHUT_WR)
        started = time.monotonic()
        run_until(lambda: len(channels.socket_map) == 1)  # never read: the flush gives up
        assert time.monotonic() - started >= 0.4
    assert any("did not take the rest of the output" in r.getMessage() for r in caplog.records)
    listener.close()


def test_starttls_finds_a_client_hello_read_ahead(certs: Certs) -> None:
    """Bulk input: a plain command protocol of 16-byte records, STARTTLS pipelined with the
    ClientHello. The ClientHello is read ahead with the command; start_tls() must hand it to
    TLS (and never serve it as plaintext)."""

    class Records(TLSMixin, DispatcherWithSend):
        ng_bulk_input = True

        def __init__(self, sock: socket.socket) -> None:
            super().__init__(sock)
            self.commands: List[bytes] = []

        def handle_read(self) -> None:
            data = self.recv(16)
            if not data:
                return
            self.commands.append(data)
            if self._ng_tls is None and data.startswith(b"STARTTLS"):
                self.start_tls(certs.server_context(), server_side=True)
            elif self._ng_tls is not None:
                self.send(data.upper())

    listener = Listener(Records)

    def client() -> bytes:
        with socket.create_connection(("127.0.0.1", listener.port), timeout=DEADLINE) as raw:
            obj, incoming, hello = client_hello(certs.client_context())
            outgoing = ssl.MemoryBIO()  # (client_hello read its outgoing BIO: keep writing to one)
            obj = certs.client_context().wrap_bio(incoming, outgoing, server_hostname="localhost")
            with pytest.raises(ssl.SSLWantReadError):
                obj.do_handshake()
            hello = outgoing.read()
            raw.sendall(b"HELLO".ljust(16))  # a full read: the channel reads ahead from now on
            raw.sendall(b"STARTTLS".ljust(16) + hello)
            _tls_over_blocking(raw, obj, incoming, outgoing)
            obj.write(b"abcdefghijklmnop")
            raw.sendall(outgoing.read())
            reply = b""
            while len(reply) < 16:
                try:
                    reply += obj.read(16 - len(reply))
                except ssl.SSLWantReadError:
                    chunk = raw.recv(65536)
                    assert chunk, "connection ended"
                    incoming.write(chunk)
            return reply

    assert drive(client) == b"ABCDEFGHIJKLMNOP"
    (handler,) = listener.handlers
    assert handler.commands == [b"HELLO".ljust(16), b"STARTTLS".ljust(16), b"abcdefghijklmnop"]
    handler.close()
    listener.close()


# -- the examples, as documented ------------------------------------------------------------


def _child_env() -> Dict[str, str]:
    env = dict(os.environ)
    src = os.path.join(ROOT, "src")
    package_dir = os.path.dirname(os.path.dirname(os.path.abspath(asyncore_ng.__file__)))
    if package_dir not in {os.path.abspath(p) for p in site.getsitepackages()}:
        current = env.get("PYTHONPATH")
        env["PYTHONPATH"] = src if not current else os.pathsep.join([src, current])
    return env


@contextmanager
def example(name: str, certs: Certs) -> Iterator[Tuple[int, subprocess.Popen[str]]]:
    proc = subprocess.Popen(
        [
            sys.executable,
            os.path.join(EXAMPLES, name),
            "--certfile",
            certs.certfile,
            "--keyfile",
            certs.keyfile,
            "--host",
            "127.0.0.1",
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_child_env(),
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("listening on 127.0.0.1:"), (line, proc.stderr.read() if proc.stderr else "")
        yield int(line.rsplit(":", 1)[1]), proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=DEADLINE)


def _stop(proc: subprocess.Popen[str], sig: int) -> Tuple[int, str]:
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=DEADLINE)
    return proc.returncode, err


def _pattern(size: int) -> bytes:
    block = hashlib.sha256(b"tls").digest() * 2048  # 64 KiB
    return (block * (size // len(block) + 1))[:size]


def test_echo_example_64_mib_each_way_with_a_blocking_client_in_a_thread(certs: Certs) -> None:
    payload = _pattern(64 * MIB)
    with example("tls_echo_server.py", certs) as (port, proc):
        result: Dict[str, Any] = {}

        def client() -> None:
            try:
                raw = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
                with raw, certs.client_context().wrap_socket(raw, server_hostname="localhost") as conn:
                    digest = hashlib.sha256()
                    step = 2 * MIB  # in flight at once (the server holds at most ~1 MiB)
                    for offset in range(0, len(payload), step):
                        chunk = payload[offset : offset + step]
                        conn.sendall(chunk)
                        got = 0
                        while got < len(chunk):
                            data = conn.recv(MIB)
                            assert data, "the server ended the stream early"
                            digest.update(data)
                            got += len(data)
                    result["digest"] = digest.hexdigest()
                    conn.unwrap()
            except BaseException as exc:
                result["error"] = exc

        thread = threading.Thread(target=client)
        thread.start()
        thread.join(120)
        assert not thread.is_alive()
        assert "error" not in result, result.get("error")
        assert result["digest"] == hashlib.sha256(payload).hexdigest()
        status, err = _stop(proc, signal.SIGINT)
    assert status == 0, err
    assert "Traceback" not in err


def test_echo_example_64_mib_each_way_with_an_asyncio_client(certs: Certs) -> None:
    payload = _pattern(64 * MIB)

    async def client(port: int) -> str:
        sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
        sock.setblocking(False)
        reader, writer = await asyncio.open_connection(
            sock=sock, ssl=certs.client_context(), server_hostname="localhost"
        )

        async def send() -> None:
            for offset in range(0, len(payload), MIB):
                writer.write(payload[offset : offset + MIB])
                await writer.drain()

        async def receive() -> str:
            digest = hashlib.sha256()
            got = 0
            while got < len(payload):
                data = await reader.read(MIB)
                assert data, "the server ended the stream early"
                digest.update(data)
                got += len(data)
            return digest.hexdigest()

        _, digest = await asyncio.wait_for(asyncio.gather(send(), receive()), 120)
        writer.close()
        await writer.wait_closed()
        return digest

    with example("tls_echo_server.py", certs) as (port, proc):
        assert asyncio.run(client(port)) == hashlib.sha256(payload).hexdigest()
        status, err = _stop(proc, signal.SIGTERM)
    assert status == 0, err
    assert "Traceback" not in err


def test_smtplib_drives_the_starttls_example(certs: Certs) -> None:
    import smtplib

    with example("starttls_server.py", certs) as (port, proc):
        smtp = smtplib.SMTP("127.0.0.1", port, local_hostname="client.example", timeout=DEADLINE)
        try:
            code, _ = smtp.ehlo()
            assert code == 250 and smtp.has_extn("starttls")
            code, _ = smtp.starttls(context=certs.client_context())
            assert code == 220
            assert isinstance(smtp.sock, ssl.SSLSocket) and smtp.sock.version() in ("TLSv1.2", "TLSv1.3")
            code, _ = smtp.ehlo()
            assert code == 250 and not smtp.has_extn("starttls")
            assert smtp.noop()[0] == 250
            assert smtp.helo()[0] == 250
            assert smtp.docmd("VRFY", "someone")[0] == 500
        finally:
            code, _ = smtp.quit()
        assert code == 221
        status, err = _stop(proc, signal.SIGTERM)
    assert status == 0, err
    assert "TLS established" in err and "Traceback" not in err


def test_the_examples_stop_on_sigint_and_sigterm(certs: Certs) -> None:
    for name in ("tls_echo_server.py", "starttls_server.py"):
        for sig in (signal.SIGINT, signal.SIGTERM):
            with example(name, certs) as (port, proc), socket.create_connection(
                ("127.0.0.1", port), timeout=DEADLINE
            ):  # a connection open while it stops
                status, err = _stop(proc, sig)
            assert status == 0, (name, sig, err)
            assert "Traceback" not in err
