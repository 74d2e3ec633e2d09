"""Faults, exhaustion, bad peers and misbehaving handlers (issue 5).

Each test injects one fault and checks that the loop neither hangs, spins nor loses data, and
that the map and the kernel registrations stay consistent.
"""

from __future__ import annotations

import asynchat
import asyncore
import os
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any, List, Optional

import pytest
from conftest import open_fds, run_until
from test_soak import chat_echo_class

import asyncore_ng
from asyncore_ng import loop as channels

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


@pytest.fixture(autouse=True)
def fresh_default_map() -> Any:
    channels.close_all(ignore_all=True)
    channels.release(channels.socket_map)
    yield
    channels.close_all(ignore_all=True)
    channels.release(channels.socket_map)


def registrations_match_map(map: Optional[dict] = None) -> bool:
    m = asyncore.socket_map if map is None else map
    binding = channels.existing_binding(m)
    return binding is None or set(binding.registrations()) == set(m)


class Echo(asyncore.dispatcher_with_send):
    def handle_read(self) -> None:
        data = self.recv(65536)
        if data:
            self.send(data)


class EchoServer(asyncore.dispatcher):
    def __init__(self, handler: Any = Echo) -> None:
        super().__init__()
        self.create_socket()
        self.set_reuse_addr()
        self.bind(("127.0.0.1", 0))
        self.listen(128)
        self.handler = handler
        self.channels: List[Any] = []

    @property
    def address(self) -> Any:
        return self.socket.getsockname()

    def handle_accepted(self, sock: socket.socket, addr: Any) -> None:
        self.channels.append(self.handler(sock))


def recv_exactly(sock: socket.socket, n: int, pump: bool = True) -> bytes:
    """Read n bytes from a non-blocking client socket while running the loop."""
    sock.setblocking(False)
    got = bytearray()

    def done() -> bool:
        try:
            while len(got) < n:
                chunk = sock.recv(n - len(got))
                if not chunk:
                    return True
                got.extend(chunk)
        except BlockingIOError:
            pass
        return len(got) >= n

    run_until(done, timeout=20)
    return bytes(got)


# -- peer faults ----------------------------------------------------------------------------


def test_reset_in_the_middle_of_a_large_write_closes_cleanly(capsys: Any) -> None:
    closed: List[str] = []

    class Sender(asyncore.dispatcher_with_send):
        def handle_close(self) -> None:
            closed.append("close")
            self.close()

        def handle_error(self) -> None:
            closed.append("error")
            super().handle_error()

    server = EchoServer(Sender)
    client = socket.create_connection(server.address)
    run_until(lambda: server.channels)
    sender = server.channels[0]
    sender.send(os.urandom(8 * 1024 * 1024))  # far more than the socket buffers hold
    assert len(sender.out_buffer) > 0
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()  # RST while the server is still writing
    run_until(lambda: closed)
    assert closed == ["close"]
    assert "Traceback" not in capsys.readouterr().out
    assert sender not in asyncore.socket_map.values()
    assert registrations_match_map()


def test_half_close_peer_still_gets_everything_queued() -> None:
    """The client sends a lot without reading, shuts down its sending side, then reads: every
    byte must come back, although most of it was still queued in the server at its EOF."""

    class SmallBuffers(Echo):
        def __init__(self, sock: socket.socket) -> None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32 * 1024)  # output queues up
            super().__init__(sock)

    server = EchoServer(SmallBuffers)
    client = socket.socket()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
    client.connect(server.address)
    payload = os.urandom(6 * 1024 * 1024)
    sender = threading.Thread(target=lambda: (client.sendall(payload), client.shutdown(socket.SHUT_WR)))
    sender.start()
    run_until(lambda: not sender.is_alive(), timeout=30)
    sender.join()
    assert server.channels[0].out_buffer  # the EOF found output queued
    assert recv_exactly(client, len(payload) + 1) == payload  # +1: also wait for the close
    client.close()
    run_until(lambda: len(asyncore.socket_map) == 1)  # only the listener is left


def test_connection_refused_is_reported_not_hung(capsys: Any) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    address = probe.getsockname()
    probe.close()
    client = asyncore.dispatcher_with_send()
    client.create_socket()
    try:
        client.connect(address)
    except ConnectionRefusedError:
        return
    run_until(lambda: client._fileno is None)
    assert "ConnectionRefusedError" in capsys.readouterr().out


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs setitimer")
def test_signals_interrupting_waits_do_not_disturb_the_loop() -> None:
    """EINTR: a signal with a Python handler arriving during waits, many times."""
    fired: List[int] = []
    old = signal.signal(signal.SIGALRM, lambda *a: fired.append(1))
    server = EchoServer()
    client = socket.create_connection(server.address)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.01, 0.01)
        for i in range(20):
            client.sendall(b"ping %d" % i)
            assert recv_exactly(client, len(b"ping %d" % i)) == b"ping %d" % i
            seen = len(fired)
            run_until(lambda: len(fired) > seen, timeout=5)  # noqa: B023 (used at once)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        client.close()
    assert len(fired) >= 20


# -- descriptor exhaustion ------------------------------------------------------------------

EXHAUSTION_SERVER = textwrap.dedent(
    """
    import os, resource, socket, sys
    sys.path.insert(0, {src!r})
    import asyncore_ng
    asyncore_ng.install()
    import asyncore

    class Echo(asyncore.dispatcher_with_send):
        def handle_read(self):
            data = self.recv(4096)
            if data:
                self.send(data)

    class Server(asyncore.dispatcher):
        def handle_accepted(self, sock, addr):
            Echo(sock)

    server = Server()
    server.create_socket()
    server.bind(("127.0.0.1", 0))
    server.listen(512)
    limit = len(os.listdir("/proc/self/fd")) + 20
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    print(server.socket.getsockname()[1], flush=True)
    asyncore.loop(timeout=1)
    """
)


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")
def test_accept_failing_with_emfile_backs_off_serves_others_and_resumes() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", EXHAUSTION_SERVER.format(src=os.path.join(ROOT, "src"))],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    clients: List[socket.socket] = []
    try:
        port = int(proc.stdout.readline())  # type: ignore[union-attr]
        for _ in range(40):  # the server can hold about 20 more descriptors: half of these
            clients.append(socket.create_connection(("127.0.0.1", port), timeout=10))
        # The first connections are served; wait until one echoes.
        clients[0].sendall(b"first")
        assert clients[0].recv(16) == b"first"
        # The server is out of descriptors with connections still queued: it must not spin.
        cpu_before = _cpu_seconds(proc.pid)
        time.sleep(1.0)  # measuring CPU over an interval is the point here
        cpu_used = _cpu_seconds(proc.pid) - cpu_before
        assert cpu_used < 0.3, f"the server used {cpu_used:.2f}s of CPU in 1s: spinning"
        # Established connections are still served.
        clients[1].sendall(b"still served")
        assert clients[1].recv(32) == b"still served"
        # Free descriptors: the queued connections are accepted and served.
        for c in clients[:25]:
            c.close()
        last = clients[-1]
        last.sendall(b"last one")
        assert last.recv(16) == b"last one"
        assert proc.poll() is None
    finally:
        for c in clients:
            c.close()
        proc.kill()
        _, err = proc.communicate(timeout=10)
    assert "pausing accepts" in err


def test_accept_backoff_pauses_the_listener_and_resumes_when_a_channel_closes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import errno

    server = EchoServer()
    real_accept = server.socket.accept
    failing = [True]

    class FlakySocket:
        def __getattr__(self, name: str) -> Any:
            return getattr(real_sock, name)

        def accept(self) -> Any:
            if failing[0]:
                raise OSError(errno.EMFILE, "Too many open files")
            return real_accept()

    real_sock = server.socket
    server.socket = FlakySocket()
    a, b = socket.socketpair()
    bystander = Echo(a)
    client = socket.create_connection(server.address)
    with caplog.at_level("WARNING", logger="asyncore_ng"):
        run_until(lambda: server.reading_paused)
    assert "pausing accepts" in caplog.text
    binding = channels.bind(asyncore.socket_map)
    asyncore.loop(timeout=0, count=1)
    assert not binding.registrations()[server._fileno] & asyncore_ng.reactor.READ
    failing[0] = False
    bystander.close()  # frees a descriptor: accepting resumes without waiting for the timer
    run_until(lambda: server.channels)
    assert not server.reading_paused
    server.socket = real_sock
    client.close()
    b.close()


# -- a descriptor closed behind the loop's back ---------------------------------------------


def test_socket_closed_without_close_is_dropped_with_a_reason(caplog: pytest.LogCaptureFixture) -> None:
    a, b = socket.socketpair()
    closes: List[int] = []

    class Quiet(asyncore.dispatcher):
        def writable(self) -> bool:
            return False

        def handle_close(self) -> None:
            closes.append(1)
            self.close()

    ch = Quiet(a)
    asyncore.loop(timeout=0, count=1)
    ch.socket.close()  # behind the loop's back: epoll forgets it silently
    start = time.monotonic()
    with caplog.at_level("WARNING", logger="asyncore_ng"):
        asyncore.loop(timeout=0.1)  # returns once the channel is dropped (map empty)
    assert time.monotonic() - start < 5
    assert closes == [1]
    assert "closed without close()" in caplog.text
    b.close()


def test_lone_polled_channel_no_longer_watchable_is_dropped(caplog: pytest.LogCaptureFixture) -> None:
    # poll() per call over a map of one channel whose predicates are asked every pass: its
    # socket closed behind the loop's back, its interest then changes. The pass drops it
    # (epoll refuses the change; the other backends leave it to the audit) while it walks
    # the polled channels, and poll() returns normally.
    a, b = socket.socketpair()
    wants_input = [False]
    closes: List[int] = []

    class Toggle(asyncore.dispatcher):
        def readable(self) -> bool:
            return wants_input[0]

        def writable(self) -> bool:
            return False

        def handle_close(self) -> None:
            closes.append(1)
            self.close()

    chan_map: dict = {}
    ch = Toggle(a, map=chan_map)
    asyncore.poll(0.0, chan_map)  # registered, no interest
    ch.socket.close()
    wants_input[0] = True
    deadline = time.monotonic() + 10
    with caplog.at_level("WARNING", logger="asyncore_ng"):
        while chan_map and time.monotonic() < deadline:
            asyncore.poll(0.05, chan_map)
    assert closes == [1]
    assert not chan_map
    assert "cannot be watched" in caplog.text or "closed without close()" in caplog.text
    b.close()


# -- misbehaving handlers ---------------------------------------------------------------------


def test_handlers_closing_and_adding_channels_during_dispatch() -> None:
    pairs = [socket.socketpair() for _ in range(6)]
    chans: List[Any] = []
    added: List[Any] = []

    class Chaotic(asyncore.dispatcher):
        def writable(self) -> bool:
            return False

        def handle_read(self) -> None:
            self.recv(10)
            for other in chans:
                if other is not self and other.socket is not None and other._fileno is not None:
                    other.close()  # close everyone else
                    break
            x, y = socket.socketpair()
            added.append((Chaotic(x), y))

    chans.extend(Chaotic(a) for a, _ in pairs)
    for _, b in pairs:
        b.send(b"x")
    asyncore.loop(timeout=0.1, count=3)
    assert registrations_match_map()
    for ch in chans:
        ch.close()
        ch.close()  # closing twice is harmless
    for ch, y in added:
        ch.close()
        y.close()
    for _, b in pairs:
        b.close()
    assert registrations_match_map()


@pytest.mark.parametrize("where", ["during-wait", "in-handler"])
def test_ctrl_c_leaves_loop_consistent_and_loop_can_run_again(where: str, use_poll: bool) -> None:
    server = EchoServer()
    client = socket.create_connection(server.address)
    run_until(lambda: server.channels, use_poll=use_poll)
    victim = server.channels[0]
    if where == "during-wait":
        old = signal.signal(signal.SIGALRM, signal.default_int_handler)
        signal.setitimer(signal.ITIMER_REAL, 0.1)
        try:
            with pytest.raises(KeyboardInterrupt):
                asyncore.loop(timeout=30, use_poll=use_poll)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
    else:
        original = victim.handle_read

        def interrupted() -> None:
            victim.handle_read = original
            raise KeyboardInterrupt

        victim.handle_read = interrupted
        client.sendall(b"x")
        with pytest.raises(KeyboardInterrupt):
            asyncore.loop(timeout=5, use_poll=use_poll)
    assert registrations_match_map()
    assert asyncore.socket_map[victim._fileno] is victim
    client.sendall(b"after ctrl-c")
    got = recv_exactly(client, len(b"after ctrl-c") + (1 if where == "in-handler" else 0))
    assert got.endswith(b"after ctrl-c")
    client.close()


# -- flow control -------------------------------------------------------------------------------


def test_proxy_memory_stays_bounded_for_a_slow_reader(capsys: Any) -> None:
    sys.path.insert(0, os.path.join(ROOT, "examples"))
    try:
        import proxy
    finally:
        sys.path.pop(0)
    upstream = EchoServer(asyncore.dispatcher_with_send)  # a source we push data through
    px = proxy.Proxy(("127.0.0.1", 0), upstream.address)
    client = socket.create_connection(px.socket.getsockname())
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    run_until(lambda: upstream.channels)
    source = upstream.channels[0]
    total = 12 * 1024 * 1024
    block = os.urandom(1024 * 1024)
    pushed = 0
    peak = 0
    client.setblocking(False)
    received = 0
    checksum_in = bytearray()

    def step() -> bool:
        nonlocal pushed, peak, received
        # The source keeps writing as fast as its socket drains; the client reads slowly.
        while pushed < total and len(source.out_buffer) < 4 * 1024 * 1024:
            source.send(block)
            pushed += len(block)
        buffered = sum(
            len(ch.out_buffer) for ch in asyncore.socket_map.values() if isinstance(ch, proxy.Side)
        )
        peak = max(peak, buffered)
        try:
            chunk = client.recv(64 * 1024)  # slow: at most 64 KiB a pass
            received += len(chunk)
            if len(checksum_in) < len(block):
                checksum_in.extend(chunk[: len(block) - len(checksum_in)])
        except BlockingIOError:
            pass
        return received >= total

    run_until(step, timeout=120, pass_timeout=0.01)
    assert bytes(checksum_in) == block[: len(checksum_in)]
    limit = proxy.Side.ng_write_high_water + 2 * proxy.READ_SIZE
    with capsys.disabled():
        print(f"\nproxy, slow reader: {total >> 20} MiB relayed, peak buffered {peak} bytes (bound {limit})")
    assert peak <= limit, f"proxy buffered {peak} bytes for a slow reader (limit {limit})"
    client.close()


# -- idle timeouts --------------------------------------------------------------------------


def test_idle_timeout_closes_dead_peers_and_spares_live_ones(caplog: pytest.LogCaptureFixture) -> None:
    class Timed(Echo):
        def __init__(self, sock: socket.socket) -> None:
            super().__init__(sock)
            self.set_idle_timeout(0.3)

    server = EchoServer(Timed)
    silent = socket.create_connection(server.address)
    chatty = socket.create_connection(server.address)
    run_until(lambda: len(server.channels) == 2)
    start = time.monotonic()
    with caplog.at_level("INFO", logger="asyncore_ng"):

        def tick() -> bool:
            chatty.sendall(b"hi")
            recv_exactly(chatty, 2)
            return server.channels[0]._fileno is None

        run_until(tick, timeout=10)
    elapsed = time.monotonic() - start
    assert 0.25 <= elapsed < 5
    assert server.channels[1]._fileno is not None  # the chatty one lives on
    assert "idle for 0.3s" in caplog.text
    silent.settimeout(5)
    assert silent.recv(1) == b""
    silent.close()
    chatty.close()


def test_idle_timeout_can_be_turned_off_and_validates() -> None:
    a, b = socket.socketpair()
    ch = Echo(a)
    with pytest.raises(ValueError):
        ch.set_idle_timeout(0)
    ch.set_idle_timeout(0.05)
    ch.set_idle_timeout(None)
    assert ch.reactor.pending_timers() == 0
    ch.close()
    b.close()


def test_no_descriptor_leaks_across_a_burst_of_connections(no_fd_leak: None) -> None:
    server = EchoServer()
    for _ in range(5):
        clients = [socket.create_connection(server.address) for _ in range(50)]
        for c in clients:
            c.sendall(b"x")
        for c in clients:
            assert recv_exactly(c, 1) == b"x"
            c.close()
        run_until(lambda: len(asyncore.socket_map) == 1)
    assert registrations_match_map()
    server.close()


def test_cross_thread_close_of_a_busy_channel() -> None:
    server = EchoServer()
    client = socket.create_connection(server.address)
    run_until(lambda: server.channels)
    ch = server.channels[0]
    t = threading.Thread(target=lambda: (time.sleep(0.05), ch.close()))
    t.start()
    run_until(lambda: ch._fileno is None)
    t.join()
    client.settimeout(5)
    assert client.recv(1) == b""
    assert registrations_match_map()
    client.close()
    assert open_fds() > 0


class LineEcho(chat_echo_class()):  # type: ignore[misc]
    """The soak's line echo, with answers 50 times the question and a small send buffer, so
    that output queues up."""

    def __init__(self, sock: socket.socket) -> None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32 * 1024)
        super().__init__(sock)

    def push(self, data: bytes) -> None:
        super().push(data[:-1] * 50 + b"\n")


def test_async_chat_half_close_peer_still_gets_every_answer() -> None:
    server = EchoServer(LineEcho)
    client = socket.socket()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
    client.connect(server.address)
    questions = [b"%06d" % i for i in range(20000)]
    client.sendall(b"".join(q + b"\n" for q in questions))
    client.shutdown(socket.SHUT_WR)  # all asked: the answers must still all come
    wanted = b"".join(q * 50 + b"\n" for q in questions)
    assert recv_exactly(client, len(wanted) + 1) == wanted  # +1: also wait for the close
    client.close()


def test_async_chat_output_marks_call_the_flow_control_hooks() -> None:
    events: List[str] = []

    class Watched(asynchat.async_chat):
        ng_write_high_water = 100_000
        ng_write_low_water = 10_000

        def handle_output_full(self) -> None:
            events.append("full")

        def handle_output_drained(self) -> None:
            events.append("drained")

    a, b = socket.socketpair()
    chat = Watched(a)
    chat.set_terminator(b"\n")
    for _ in range(100):
        chat.push(b"x" * 10_000)  # the peer reads nothing yet
    assert events == ["full"]
    got = recv_exactly(b, 1_000_000)
    assert len(got) == 1_000_000
    assert events == ["full", "drained"]
    chat.close()
    b.close()
