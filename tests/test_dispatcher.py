"""asyncore semantics of the dispatcher and loop, over every backend and both loop semantics.

Each test names the documented behaviour it pins down (DESIGN.md, "Semantics that are easy to
get wrong").
"""

from __future__ import annotations

import asyncore
import errno
import logging
import os
import socket
import struct
import threading
import time
from typing import Any, List, Optional

import pytest
from conftest import run_until

import asyncore_ng
from asyncore_ng import loop as channels
from asyncore_ng.reactor import WRITE

pytestmark = pytest.mark.usefixtures("backend")


class Recorder(asyncore.dispatcher):
    """Records every handler call in order."""

    def __init__(self, sock: Optional[socket.socket] = None, map: Any = None) -> None:
        super().__init__(sock, map)
        self.events: List[str] = []

    def handle_connect(self) -> None:
        self.events.append("connect")

    def handle_read(self) -> None:
        self.events.append("read")
        self.recv(65536)

    def handle_write(self) -> None:
        self.events.append("write")

    def handle_close(self) -> None:
        self.events.append("close")
        self.close()

    def handle_expt(self) -> None:
        self.events.append("expt")

    def handle_error(self) -> None:
        self.events.append("error")
        super().handle_error()

    def writable(self) -> bool:  # asked every pass (not marked state_predicate)
        return not self.connected


class Server(asyncore.dispatcher):
    def __init__(self, handler: Any = None, family: int = socket.AF_INET) -> None:
        super().__init__()
        self.create_socket(family)
        self.set_reuse_addr()
        self.bind(("127.0.0.1", 0) if family == socket.AF_INET else ("::1", 0))
        self.listen(128)
        self.handler = handler
        self.accepted: List[Any] = []

    @property
    def port(self) -> int:
        return int(self.socket.getsockname()[1])

    def handle_accepted(self, sock: socket.socket, addr: Any) -> None:
        self.accepted.append(self.handler(sock) if self.handler else sock)


def connect_pair(server: Server, client_cls: Any = Recorder, use_poll: bool = False) -> Any:
    client = client_cls()
    client.create_socket()
    client.connect(("127.0.0.1", server.port))
    run_until(lambda: server.accepted and client.connected, use_poll=use_poll)
    return client


# -- loop() ---------------------------------------------------------------------------------


def test_loop_returns_when_the_map_is_empty(use_poll: bool) -> None:
    class ClosesOnWrite(asyncore.dispatcher):
        def handle_write(self) -> None:
            self.close()

    a, b = socket.socketpair()
    ClosesOnWrite(a)
    start = time.monotonic()
    asyncore.loop(timeout=5, use_poll=use_poll)
    assert asyncore.socket_map == {}
    assert time.monotonic() - start < 4
    b.close()


def test_loop_count_counts_passes_and_predicates_are_asked_once_per_pass(use_poll: bool) -> None:
    class Idle(asyncore.dispatcher):
        asked = 0

        def readable(self) -> bool:
            Idle.asked += 1
            return False

        def writable(self) -> bool:
            return False

    a, b = socket.socketpair()
    Idle(a)
    asyncore.loop(timeout=0, use_poll=use_poll, count=7)
    assert Idle.asked == 7
    b.close()


def test_timeout_bounds_each_wait(use_poll: bool) -> None:
    a, b = socket.socketpair()

    class Quiet(asyncore.dispatcher):
        def writable(self) -> bool:
            return False

    Quiet(a)
    start = time.monotonic()
    asyncore.loop(timeout=0.05, use_poll=use_poll, count=4)
    elapsed = time.monotonic() - start
    assert 0.19 <= elapsed < 3
    b.close()


def test_loop_with_an_empty_map_returns_at_once() -> None:
    start = time.monotonic()
    asyncore.loop(timeout=30, map={})
    asyncore.poll(30, {})
    asyncore.poll2(30, {})
    assert time.monotonic() - start < 1


@pytest.mark.parametrize("how", ["close-last-channel", "stop"])
def test_loop_timeout_30_interrupted_from_another_thread_within_50ms(how: str, use_poll: bool) -> None:
    a, b = socket.socketpair()

    class Quiet(asyncore.dispatcher):
        def writable(self) -> bool:
            return False

    ch = Quiet(a)
    asyncore.loop(timeout=0, count=1, use_poll=use_poll)  # the reactor exists and is synced
    stamp: List[float] = []

    def other() -> None:
        time.sleep(0.2)  # let the main thread enter its wait; correctness does not depend on it
        stamp.append(time.monotonic())
        if how == "stop":
            asyncore_ng.get_reactor().stop()
        else:
            ch.close()

    t = threading.Thread(target=other)
    t.start()
    asyncore.loop(timeout=30, use_poll=use_poll)
    returned = time.monotonic()
    t.join()
    assert returned - stamp[0] < 0.05
    b.close()


# -- accepting ------------------------------------------------------------------------------


def test_listener_is_never_watched_for_write_and_handle_accepted_gets_sock_and_addr(
    use_poll: bool,
) -> None:
    server = Server()
    binding = channels.bind(asyncore.socket_map)
    asyncore.loop(timeout=0, count=1, use_poll=use_poll)
    assert not binding.registrations()[server._fileno] & WRITE
    client = socket.create_connection(("127.0.0.1", server.port))
    run_until(lambda: server.accepted, use_poll=use_poll)
    sock = server.accepted[0]
    assert isinstance(sock, socket.socket)
    assert sock.getpeername() == client.getsockname()
    sock.close()
    client.close()


def test_default_handle_accepted_closes_and_warns(use_poll: bool, capsys: Any) -> None:
    server = asyncore.dispatcher()
    server.create_socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.ignore_log_types = ()
    client = socket.create_connection(server.socket.getsockname())
    run_until(lambda: "unhandled accepted event" in capsys.readouterr().out, use_poll=use_poll)
    client.settimeout(5)
    assert client.recv(1) == b""  # the server closed it
    client.close()


def test_many_pending_connections_are_all_accepted(use_poll: bool) -> None:
    server = Server()
    clients = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(50)]
    run_until(lambda: len(server.accepted) == 50, use_poll=use_poll)
    for s in clients + server.accepted:
        s.close()


# -- connecting -----------------------------------------------------------------------------


def test_connecting_channel_gets_handle_connect_first_and_once(use_poll: bool) -> None:
    server = Server()
    client = connect_pair(server, use_poll=use_poll)
    server.accepted[0].send(b"hello")
    run_until(lambda: "read" in client.events, use_poll=use_poll)
    assert client.events[0] == "connect"
    assert client.events.count("connect") == 1
    assert client.connected and not client.connecting
    server.accepted[0].close()


def test_refused_connect_surfaces_as_error_or_close_not_a_hang(use_poll: bool, capsys: Any) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    client = Recorder()
    client.create_socket()
    try:
        client.connect(("127.0.0.1", port))
    except ConnectionRefusedError:
        return  # refused synchronously: surfaced, as the stdlib does
    run_until(lambda: client._fileno is None, use_poll=use_poll)
    assert "connect" not in client.events
    assert "close" in client.events or "error" in client.events
    assert not client.connected


def test_immediate_connect_calls_handle_connect_event_from_connect(tmp_path: Any) -> None:
    path = str(tmp_path / "s")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(1)
    client = Recorder()
    client.create_socket(socket.AF_UNIX)
    client.connect(path)  # unix stream connects complete at once
    assert client.events == ["connect"]
    assert client.connected and not client.connecting
    listener.close()


# -- reading, writing, closing -------------------------------------------------------------


def test_recv_of_nothing_means_handle_close(use_poll: bool) -> None:
    a, b = socket.socketpair()
    ch = Recorder(a)
    b.close()
    run_until(lambda: "close" in ch.events, use_poll=use_poll)
    assert ch._fileno is None and ch not in asyncore.socket_map.values()


def test_reset_by_peer_goes_to_handle_close_without_error(use_poll: bool) -> None:
    server = Server()
    client = connect_pair(server, use_poll=use_poll)
    peer = server.accepted[0]
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    peer.close()  # RST
    run_until(lambda: "close" in client.events, use_poll=use_poll)
    assert "error" not in client.events


def test_send_that_would_block_returns_zero() -> None:
    a, b = socket.socketpair()
    ch = asyncore.dispatcher(a)
    total = 0
    for _ in range(10000):
        n = ch.send(b"x" * 65536)
        if n == 0:
            break
        total += n
    else:
        pytest.fail("socket buffer never filled")
    assert total > 0
    ch.close()
    b.close()


def test_send_to_a_closed_peer_closes_the_channel() -> None:
    a, b = socket.socketpair()
    closed: List[int] = []

    class C(asyncore.dispatcher):
        def handle_close(self) -> None:
            closed.append(1)
            self.close()

    ch = C(a)
    b.close()
    for _ in range(3):
        if ch.send(b"data") == 0:
            break
    assert closed == [1]


def test_dispatcher_with_send_delivers_large_data_in_order(use_poll: bool) -> None:
    server = Server()
    client = connect_pair(server, asyncore.dispatcher_with_send, use_poll=use_poll)
    peer = server.accepted[0]
    peer.setblocking(False)
    payload = os.urandom(4 * 1024 * 1024)
    for i in range(0, len(payload), 100_000):
        client.send(payload[i : i + 100_000])
    received = bytearray()

    def drained() -> bool:
        try:
            while True:
                chunk = peer.recv(1 << 20)
                if not chunk:
                    break
                received.extend(chunk)
        except BlockingIOError:
            pass
        return len(received) == len(payload)

    run_until(drained, use_poll=use_poll)
    assert bytes(received) == payload
    assert not client.out_buffer and not client.writable()
    peer.close()


# -- errors ---------------------------------------------------------------------------------


def test_handler_exception_goes_to_handle_error_which_logs_and_closes(use_poll: bool, capsys: Any) -> None:
    a, b = socket.socketpair()

    class Broken(asyncore.dispatcher):
        def handle_read(self) -> None:
            raise ValueError("spam")

    ch = Broken(a)
    b.send(b"x")
    run_until(lambda: ch._fileno is None, use_poll=use_poll)
    out = capsys.readouterr().out
    assert "error: uncaptured python exception" in out and "ValueError" in out and "spam" in out
    b.close()


@pytest.mark.parametrize("exc", [asyncore.ExitNow, KeyboardInterrupt, SystemExit])
def test_passthrough_exceptions_leave_loop_with_state_consistent(use_poll: bool, exc: type) -> None:
    a, b = socket.socketpair()
    raised: List[int] = []

    class Raiser(asyncore.dispatcher):
        def handle_read(self) -> None:
            data = self.recv(10)
            if not raised:
                raised.append(1)
                raise exc()
            self.got = data

        def writable(self) -> bool:
            return False

    ch = Raiser(a)
    b.send(b"1")
    with pytest.raises(exc):
        asyncore.loop(timeout=5, use_poll=use_poll)
    assert asyncore.socket_map[ch._fileno] is ch  # still registered, still usable
    b.send(b"2")
    run_until(lambda: getattr(ch, "got", None) == b"2", use_poll=use_poll)
    b.close()


def test_predicate_exceptions_propagate_as_in_the_stdlib(use_poll: bool) -> None:
    a, b = socket.socketpair()

    class BadPredicate(asyncore.dispatcher):
        def readable(self) -> bool:
            raise RuntimeError("predicate")

    BadPredicate(a)
    with pytest.raises(RuntimeError, match="predicate"):
        asyncore.loop(timeout=0, count=1, use_poll=use_poll)
    b.close()


# -- logging --------------------------------------------------------------------------------


def test_log_info_prints_unless_ignored_and_log_writes_stderr(capsys: Any) -> None:
    d = asyncore.dispatcher()
    d.log_info("shown")
    d.log_info("hidden", "warning")
    d.log("to stderr")
    captured = capsys.readouterr()
    assert captured.out == "info: shown\n"
    assert captured.err == "log: to stderr\n"


def test_log_info_can_go_to_logging(caplog: pytest.LogCaptureFixture, capsys: Any) -> None:
    d = asyncore.dispatcher()
    d.asyncore_ng_logger = logging.getLogger("myapp")
    d.ignore_log_types = frozenset()
    with caplog.at_level("INFO", logger="myapp"):
        d.log_info("hello")
        d.log_info("careful", "warning")
        d.log_info("bad", "error")
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("INFO", "hello"),
        ("WARNING", "careful"),
        ("ERROR", "bad"),
    ]
    assert capsys.readouterr().out == ""


# -- select vs poll semantics ---------------------------------------------------------------


def test_out_of_band_data_reaches_handle_expt(use_poll: bool) -> None:
    server = Server()
    client = connect_pair(server, use_poll=use_poll)
    server.accepted[0].send(b"!", socket.MSG_OOB)
    run_until(lambda: "expt" in client.events, use_poll=use_poll)
    server.accepted[0].close()


def test_hang_up_closes_only_under_poll_semantics(use_poll: bool, backend: str) -> None:
    """poll semantics: POLLHUP goes to handle_close even if handle_read never reads.
    select semantics: a hang-up is only "readable"; the channel learns of it by reading."""
    if use_poll and backend == "select":
        pytest.skip("the select backend cannot see hang-ups (docs/compat.md)")
    a, b = socket.socketpair()

    class NoRead(asyncore.dispatcher):
        reads = 0
        closes = 0

        def handle_read(self) -> None:
            NoRead.reads += 1

        def handle_close(self) -> None:
            NoRead.closes += 1
            self.close()

        def writable(self) -> bool:
            return False

    NoRead(a)
    b.close()
    asyncore.loop(timeout=1, count=3, use_poll=use_poll)
    if use_poll:
        assert NoRead.closes == 1 and NoRead.reads == 1
    else:
        assert NoRead.closes == 0 and NoRead.reads == 3
        asyncore.close_all()


# -- descriptor reuse within one pass -------------------------------------------------------


def test_descriptor_closed_and_reused_in_one_pass_gets_no_stale_event(use_poll: bool) -> None:
    """Two channels readable in the same pass; whichever runs first closes the other and puts
    a new channel on its descriptor number. The new channel must see no event in that pass."""
    pairs = [socket.socketpair() for _ in range(2)]
    chans: List[Any] = []
    reads: List[str] = []
    fresh: List[Any] = []

    class Newcomer(asyncore.dispatcher):
        def handle_read(self) -> None:
            reads.append("newcomer")

        def writable(self) -> bool:
            return False

    class Victim(asyncore.dispatcher):
        def handle_read(self) -> None:
            reads.append("victim")
            self.recv(10)
            if fresh:
                return
            other = chans[1] if self is chans[0] else chans[0]
            number = other._fileno
            other.close()
            n1, n2 = socket.socketpair()
            os.dup2(n1.fileno(), number)
            n1.close()
            fresh.append(n2)
            fresh.append(Newcomer(socket.socket(fileno=number)))

        def writable(self) -> bool:
            return False

    chans.extend(Victim(a) for a, _ in pairs)
    asyncore.loop(timeout=0, count=1, use_poll=use_poll)
    for _, b in pairs:
        b.send(b"x")
    asyncore.loop(timeout=1, count=1, use_poll=use_poll)
    assert reads == ["victim"]
    for _, b in pairs:
        b.close()
    fresh[0].close()


# -- timers from a dispatcher ----------------------------------------------------------------


def test_timer_from_a_dispatcher_can_close_channels_and_add_new_ones(use_poll: bool) -> None:
    server = Server(handler=Recorder)
    log: List[str] = []

    class Client(Recorder):
        def handle_connect(self) -> None:
            super().handle_connect()
            self.call_later(0.01, self.later)

        def later(self) -> None:
            log.append("timer")
            self.close()
            second = Recorder()
            second.create_socket()
            second.connect(("127.0.0.1", server.port))
            log.append("added")

    c = Client()
    c.create_socket()
    c.connect(("127.0.0.1", server.port))
    run_until(lambda: len(server.accepted) == 2, use_poll=use_poll)
    assert log == ["timer", "added"]
    assert c._fileno is None


def test_exception_in_timer_does_not_stop_the_loop(use_poll: bool, caplog: pytest.LogCaptureFixture) -> None:
    a, b = socket.socketpair()
    ch = Recorder(a)
    ran: List[int] = []
    ch.call_later(0, lambda: 1 / 0)
    ch.call_later(0.01, ran.append, 1)
    with caplog.at_level("ERROR", logger="asyncore_ng"):
        run_until(lambda: ran, use_poll=use_poll)
    assert any(r.exc_info and r.exc_info[0] is ZeroDivisionError for r in caplog.records)
    b.close()


# -- file_dispatcher ------------------------------------------------------------------------


def test_file_dispatcher_reads_a_pipe(use_poll: bool) -> None:
    r, w = os.pipe()
    got = bytearray()

    class Reader(asyncore.file_dispatcher):
        def handle_read(self) -> None:
            got.extend(self.recv(100))

        def writable(self) -> bool:
            return False

    Reader(r)
    os.close(r)
    os.write(w, b"through a pipe")
    run_until(lambda: bytes(got) == b"through a pipe", use_poll=use_poll)
    os.close(w)
    run_until(lambda: not asyncore.socket_map, use_poll=use_poll)


def test_connect_errors_other_than_in_progress_raise(tmp_path: Any) -> None:
    d = asyncore.dispatcher()
    d.create_socket(socket.AF_UNIX)
    with pytest.raises(OSError) as info:
        d.connect(str(tmp_path / "nobody-listens-here"))
    assert info.value.errno == errno.ENOENT
    d.close()


# -- state assigned by hand is noticed --------------------------------------------------------


def test_out_buffer_assigned_by_hand_from_a_timer_is_sent(use_poll: bool) -> None:
    """Legacy code assigns out_buffer (bytes) directly, even from outside its handlers; the
    loop must notice without being asked (writable() is not polled for library classes)."""
    a, b = socket.socketpair()
    ch = asyncore.dispatcher_with_send(a)
    asyncore.loop(timeout=0, count=2, use_poll=use_poll)  # registered, nothing to write
    ch.call_later(0.01, lambda: setattr(ch, "out_buffer", ch.out_buffer + b"by hand"))
    b.setblocking(False)
    got = bytearray()

    def arrived() -> bool:
        try:
            got.extend(b.recv(100))
        except BlockingIOError:
            pass
        return bytes(got) == b"by hand"

    run_until(arrived, use_poll=use_poll)
    assert isinstance(ch.out_buffer, bytearray)
    b.close()


def test_class_attribute_shadowing_connected_falls_back_to_asking_every_pass() -> None:
    writes: List[str] = []

    class OldStyle(asyncore.dispatcher_with_send):
        connected = False  # plain class attribute: assignments would not notify

        def handle_write(self) -> None:
            writes.append("write")
            super().handle_write()

    a, b = socket.socketpair()
    c, d = socket.socketpair()
    ch = OldStyle(a)
    plain = asyncore.dispatcher_with_send(c)
    asyncore.loop(timeout=0.01, count=5)
    assert ch._ng_registration is not None and ch._ng_registration.polled
    assert plain._ng_registration is not None and not plain._ng_registration.polled
    assert writes == []  # connected (an instance attribute now) and nothing queued: not writable
    asyncore.close_all()
    b.close()
    d.close()
