"""Scale: many connections, descriptors past select()'s limit, and a pass that costs nothing for
idle channels, all under asyncore's select semantics (``use_poll=False``).

Every test runs on a private map, closes it with ``close_all(map)`` and then checks that the
process has exactly the descriptors it had before (the map's reactor included).
"""

from __future__ import annotations

import asyncore
import os
import select
import socket
import time
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, List

import pytest

import asyncore_ng

resource = pytest.importorskip("resource", reason="RLIMIT_NOFILE needs the resource module (POSIX)")

PROC_FDS = "/proc/self/fd"
DEADLINE = 45.0  # seconds, for a whole scenario (the test timeout is 60)

pytestmark = pytest.mark.skipif(
    not os.path.isdir(PROC_FDS), reason="counting open descriptors needs /proc/self/fd"
)


def open_fds() -> int:
    return len(os.listdir(PROC_FDS))


@contextmanager
def nofile_limit(needed: int) -> Iterator[None]:
    """Raise the soft RLIMIT_NOFILE to the hard limit (skip if that is below ``needed``)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"RLIMIT_NOFILE hard limit is {hard}; this test needs {needed} descriptors")
    target = hard if hard != resource.RLIM_INFINITY else max(soft, needed)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@contextmanager
def no_fd_leak() -> Iterator[None]:
    before = open_fds()
    yield
    after = open_fds()
    assert after == before, f"descriptors: {before} before, {after} after close_all"


def skip_if_select_backend(map: Dict[Any, Any]) -> None:
    backend = asyncore_ng.get_reactor(map).backend
    if backend == "select":
        pytest.skip("ASYNCORE_NG_BACKEND=select: that backend is limited to FD_SETSIZE by design")


def run_until(map: Dict[Any, Any], condition: Callable[[], bool], use_poll: bool = False) -> int:
    """Loop passes on ``map`` until ``condition()``; fail at the deadline. Returns the passes."""
    deadline = time.monotonic() + DEADLINE
    passes = 0
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {DEADLINE}s ({passes} passes)")
        asyncore.loop(timeout=0.5, use_poll=use_poll, map=map, count=1)
        passes += 1
    return passes


def make_map(kind: str) -> Dict[Any, Any]:
    return {} if kind == "dict" else asyncore_ng.ChannelMap()


MAP_KINDS = ["ChannelMap", "dict"]


# -- an echo server and its clients ------------------------------------------------------------


class EchoHandler(asyncore.dispatcher_with_send):
    def handle_read(self) -> None:
        data = self.recv(65536)
        if data:
            self.send(data)

    def handle_close(self) -> None:
        self.close()


class EchoServer(asyncore.dispatcher):
    def __init__(self, map: Dict[Any, Any], family: int = socket.AF_INET) -> None:
        super().__init__(map=map)
        self.channel_map = map
        self.handlers: List[EchoHandler] = []
        self.create_socket(family, socket.SOCK_STREAM)
        self.bind(("127.0.0.1", 0))
        self.listen(4096)

    def handle_accepted(self, sock: socket.socket, addr: Any) -> None:
        self.handlers.append(EchoHandler(sock, map=self.channel_map))


class Tally:
    def __init__(self) -> None:
        self.done = 0
        self.errors: List[str] = []


class EchoClient(asyncore.dispatcher_with_send):
    """Sends its message once connected; counts itself done when the echo is complete."""

    def __init__(self, message: bytes, address: Any, map: Dict[Any, Any], tally: Tally) -> None:
        super().__init__(map=map)
        self.message = message
        self.received = bytearray()
        self.tally = tally
        self.create_socket(socket.AF_INET, socket.SOCK_STREAM)
        self.connect(address)

    def handle_connect(self) -> None:
        self.send(self.message)

    def handle_read(self) -> None:
        self.received += self.recv(65536)
        if len(self.received) == len(self.message):
            self.tally.done += 1

    def handle_close(self) -> None:
        self.tally.errors.append(f"closed early: {self!r}")
        self.close()

    def handle_error(self) -> None:
        self.tally.errors.append(repr(self))
        super().handle_error()


# -- (a) 2,000 simultaneous connections ------------------------------------------------------

CONNECTIONS = 2000


@pytest.mark.parametrize("map_kind", MAP_KINDS)
def test_2000_simultaneous_connections_under_select_semantics(map_kind: str) -> None:
    with nofile_limit(4200), no_fd_leak():
        m = make_map(map_kind)
        try:
            skip_if_select_backend(m)
            server = EchoServer(m)
            tally = Tally()
            clients = [
                EchoClient(b"<client %d>" % i * (1 + i % 40), server.socket.getsockname(), m, tally)
                for i in range(CONNECTIONS)
            ]
            run_until(m, lambda: tally.done == CONNECTIONS or bool(tally.errors))
            assert tally.errors == []
            # Every client got exactly its own bytes back...
            assert all(bytes(c.received) == c.message for c in clients)
            # ...while all of them were connected at once.
            assert len(server.handlers) == CONNECTIONS
            assert all(h.connected for h in server.handlers)
            assert len(m) == 2 * CONNECTIONS + 1
            assert max(m) > 1023  # past select()'s limit, under select semantics
        finally:
            asyncore_ng.loop.close_all(m)


# -- (b) descriptors above 1023 --------------------------------------------------------------


@contextmanager
def low_descriptors_taken() -> Iterator[None]:
    """Occupy every descriptor up to 1023, so that new ones are numbered 1024 and up."""
    fillers: List[int] = []
    r, w = os.pipe()
    try:
        while True:
            fd = os.dup(r)
            fillers.append(fd)
            if fd >= 1023:
                break
        yield
    finally:
        for fd in fillers:
            os.close(fd)
        os.close(r)
        os.close(w)


@pytest.mark.parametrize("map_kind", MAP_KINDS)
def test_descriptors_above_1023_under_select_semantics(map_kind: str) -> None:
    with nofile_limit(1200), no_fd_leak():
        m = make_map(map_kind)
        try:
            skip_if_select_backend(m)
            asyncore_ng.loop.close_all(m)  # the reactor is made again past 1023 below
            with low_descriptors_taken():
                server = EchoServer(m)
                tally = Tally()
                client = EchoClient(b"past FD_SETSIZE", server.socket.getsockname(), m, tally)
                assert server.socket.fileno() > 1023 and client.socket.fileno() > 1023
                # select() itself cannot take them: what the stdlib's loop would call.
                with pytest.raises(ValueError):
                    select.select([server.socket], [], [], 0)
                run_until(m, lambda: tally.done == 1 or bool(tally.errors))
                assert tally.errors == []
                assert bytes(client.received) == b"past FD_SETSIZE"
                assert [h.socket.fileno() > 1023 for h in server.handlers] == [True]
                # The accepted side sees the client hang up, also past 1023.
                client.close()
                handler = server.handlers[0]
                run_until(m, lambda: handler.socket is None or handler.socket.fileno() == -1)
                asyncore_ng.loop.close_all(m)
        finally:
            asyncore_ng.loop.close_all(m)


# -- (c) a pass costs O(active channels) -----------------------------------------------------


def counted(cls: type, marked: bool, writable_default: Any = None) -> type:
    """A subclass of ``cls`` whose predicates count their calls, marked ``state_predicate`` (the
    library's promise kept: "changes only when announced") or not (asked every pass)."""

    def readable(self: Any) -> bool:
        self.calls["readable"] += 1
        return bool(cls.readable(self))

    def writable(self: Any) -> bool:
        self.calls["writable"] += 1
        if self.want_write is not None:
            return bool(self.want_write)
        return bool(cls.writable(self))

    if marked:
        readable = asyncore_ng.state_predicate(readable)
        writable = asyncore_ng.state_predicate(writable)

    def init(self: Any, sock: socket.socket, map: Dict[Any, Any]) -> None:
        cls.__init__(self, sock, map)
        self.calls = {"readable": 0, "writable": 0}
        self.want_write = writable_default
        self.events: List[str] = []

    def handle_read(self: Any) -> None:
        self.events.append("read")
        self.recv(4096)

    def handle_write(self: Any) -> None:
        self.events.append("write")
        self.want_write = False  # one write is enough; asked again after this handler

    name = ("Marked_" if marked else "Unmarked_") + cls.__name__
    namespace = {
        "__init__": init,
        "readable": readable,
        "writable": writable,
        "handle_read": handle_read,
        "handle_write": handle_write,
    }
    return type(name, (cls,), namespace)


# A plain dispatcher is always writable on a connected socket (active every pass); the idle
# plain channel is one that declares it has nothing to write.
MarkedSend = counted(asyncore.dispatcher_with_send, marked=True)
UnmarkedSend = counted(asyncore.dispatcher_with_send, marked=False)
MarkedPlain = counted(asyncore.dispatcher, marked=True, writable_default=False)
UnmarkedPlain = counted(asyncore.dispatcher, marked=False, writable_default=False)
IDLE_KINDS = [MarkedSend, MarkedPlain, UnmarkedSend, UnmarkedPlain]
IDLE_CHANNELS = 1000
PASSES = 100


class PingPong(asyncore.dispatcher_with_send):
    """The active pair: one message bouncing between two channels, one hop per pass."""

    hops = 0

    def handle_read(self) -> None:
        data = self.recv(4096)
        if data:
            PingPong.hops += 1
            self.send(data)


class KernelCalls:
    """Counts the reactor poller's registration calls (wrapping the instance's methods)."""

    def __init__(self, poller: Any) -> None:
        self.poller = poller
        self.calls = {"register": 0, "modify": 0, "unregister": 0}
        for name in self.calls:
            original = getattr(poller, name)
            setattr(poller, name, self._counting(name, original))

    def _counting(self, name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            self.calls[name] += 1
            return original(*args)

        return call

    def reset(self) -> None:
        for name in self.calls:
            self.calls[name] = 0

    def restore(self) -> None:
        for name in self.calls:
            vars(self.poller).pop(name, None)


@pytest.mark.parametrize("use_poll", [False, True], ids=["select-semantics", "poll-semantics"])
@pytest.mark.parametrize("map_kind", MAP_KINDS)
def test_idle_channels_cost_nothing_per_pass(map_kind: str, use_poll: bool) -> None:
    with nofile_limit(2 * IDLE_CHANNELS + 200), no_fd_leak():
        m = make_map(map_kind)
        peers: List[socket.socket] = []
        try:
            skip_if_select_backend(m)
            idle: Dict[type, List[Any]] = {kind: [] for kind in IDLE_KINDS}
            peer_of: Dict[Any, socket.socket] = {}
            for i in range(IDLE_CHANNELS):
                ours, theirs = socket.socketpair()
                peers.append(theirs)
                kind = IDLE_KINDS[i % len(IDLE_KINDS)]
                channel = kind(ours, m)
                idle[kind].append(channel)
                peer_of[channel] = theirs
            a, b = socket.socketpair()
            ping = PingPong(a, m)
            PingPong(b, m)  # its partner, in the map
            kernel = KernelCalls(asyncore_ng.get_reactor(m).poller)

            # First pass: every channel is registered and asked once. From here on one message
            # bounces between the active pair, one hop per pass, so no pass waits.
            ping.send(b"ping")
            asyncore.loop(timeout=DEADLINE, use_poll=use_poll, map=m, count=1)
            assert kernel.calls["register"] >= IDLE_CHANNELS + 2
            for kind, channels in idle.items():
                assert all(c.calls == {"readable": 1, "writable": 1} for c in channels), kind
                for c in channels:
                    c.calls.update(readable=0, writable=0)
            kernel.reset()

            # 100 passes, each returning at once on one event.
            PingPong.hops = 0
            asyncore.loop(timeout=DEADLINE, use_poll=use_poll, map=m, count=PASSES)
            assert PingPong.hops == PASSES

            # Marked idle channels: not asked at all. Unmarked: once per pass each, as the
            # stdlib asks. Nobody's interest changed, so the kernel was not told anything.
            for kind in (MarkedSend, MarkedPlain):
                assert all(c.calls == {"readable": 0, "writable": 0} for c in idle[kind]), kind
            for kind in (UnmarkedSend, UnmarkedPlain):
                want = {"readable": PASSES, "writable": PASSES}
                assert all(c.calls == want for c in idle[kind]), (kind, idle[kind][0].calls)
            assert kernel.calls == {"register": 0, "modify": 0, "unregister": 0}
            assert all(not c.events for channels in idle.values() for c in channels)

            # Idle is not forgotten: data for a marked channel is read within the next passes.
            target = idle[MarkedSend][7]
            peer_of[target].sendall(b"wake up")
            asyncore.loop(timeout=DEADLINE, use_poll=use_poll, map=m, count=1)
            assert "read" in target.events

            # An unmarked predicate that changes its answer unannounced is seen on the next
            # pass (the stdlib contract); a marked one once it announces the change.
            unmarked = idle[UnmarkedPlain][3]
            unmarked.want_write = True
            asyncore.loop(timeout=DEADLINE, use_poll=use_poll, map=m, count=1)
            assert unmarked.events == ["write"]
            marked = idle[MarkedPlain][3]
            marked.want_write = True
            marked.interest_changed()
            asyncore.loop(timeout=DEADLINE, use_poll=use_poll, map=m, count=1)
            assert marked.events == ["write"]
            kernel.restore()
        finally:
            asyncore_ng.loop.close_all(m)
            for s in peers:
                s.close()
