"""Channels made, connected, fed and closed by worker threads while the loop thread runs.

The common server shape: a loop thread in ``while running: asyncore.poll(0.1)`` (or in
``loop()``), worker threads that create channels (an FTP server's active data connection),
push output, or close channels. Instant cross-thread wake-ups make every intermediate state
visible to the loop thread at once, so each path is stressed here with real threads.
"""

from __future__ import annotations

import asynchat
import asyncore
import logging
import random
import re
import socket
import threading
import time
from typing import Any, Callable, Dict, List, Optional

import pytest

import asyncore_ng
from asyncore_ng import loop as channels
from asyncore_ng.reactor import available_backends

WORKERS = 8


class LoopThread:
    """Runs the loop in a thread, as servers do: ``poll(0.1)`` in a loop, or ``loop()``."""

    def __init__(self, style: str, use_poll: bool, map: Dict[Any, Any]) -> None:
        self.style = style
        self.use_poll = use_poll
        self.map = map
        self.running = True
        self.error: Optional[BaseException] = None
        self.thread = threading.Thread(target=self._run, name=f"loop-{style}")

    def _run(self) -> None:
        try:
            if self.style == "poll":
                poll = asyncore.poll2 if self.use_poll else asyncore.poll
                while self.running:
                    poll(0.1, self.map)
            else:
                while self.running:
                    asyncore.loop(timeout=0.1, use_poll=self.use_poll, map=self.map)
                    if not self.map:
                        time.sleep(0.001)  # map empty: loop() returned at once
        except BaseException as exc:  # pragma: no cover (reported by stop())
            self.error = exc

    def __enter__(self) -> LoopThread:
        # Workers start once the loop runs (the server shape): from then on the reactor knows
        # its thread, and work from other threads is handed to it.
        reactor = asyncore_ng.get_reactor(self.map)
        started = threading.Event()
        reactor.call_soon_threadsafe(started.set)
        self.thread.start()
        assert started.wait(10)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.running = False
        asyncore_ng.get_reactor(self.map).stop()
        self.thread.join(10)
        assert not self.thread.is_alive()
        if self.error is not None:
            raise self.error


class EchoHandler(asyncore.dispatcher_with_send):
    def handle_read(self) -> None:
        data = self.recv(8192)
        if data:
            self.send(data)

    def handle_close(self) -> None:
        self.close()


class EchoServer(asyncore.dispatcher):
    def __init__(self, map: Dict[Any, Any]) -> None:
        super().__init__(map=map)
        self.create_socket()
        self.set_reuse_addr()
        self.bind(("127.0.0.1", 0))
        self.listen(1024)
        self.address = self.socket.getsockname()

    def handle_accepted(self, sock: socket.socket, addr: Any) -> None:
        EchoHandler(sock, self._map)


class Tally:
    def __init__(self, expected: int, slots: Optional[threading.Semaphore] = None) -> None:
        self.lock = threading.Lock()
        self.counts: Dict[str, int] = {}
        self.expected = expected
        self.done = threading.Event()
        self.slots = slots  # (released by each "finished": bounds the channels in flight)

    def add(self, what: str) -> None:
        with self.lock:
            self.counts[what] = self.counts.get(what, 0) + 1
            if self.counts.get("finished", 0) >= self.expected:
                self.done.set()
        if what == "finished" and self.slots is not None:
            self.slots.release()

    def get(self, what: str) -> int:
        with self.lock:
            return self.counts.get(what, 0)


class WorkerClient(asyncore.dispatcher):
    """Made by a worker: create_socket(), a pause, connect(); sends a line, expects it back."""

    def __init__(self, map: Dict[Any, Any], tally: Tally, payload: bytes) -> None:
        super().__init__(map=map)
        self.tally = tally
        self.payload = payload
        self.got = b""
        self.was_connected = False
        self.finished = False
        self.create_socket()

    def handle_connect(self) -> None:
        self.was_connected = True
        self.tally.add("connected")
        self.send(self.payload)

    def handle_read(self) -> None:
        self.got += self.recv(8192)
        if self.got == self.payload:
            self.tally.add("served")
            self._finish()

    def handle_write(self) -> None:
        pass

    def writable(self) -> bool:
        return not self.connected

    def handle_close(self) -> None:
        if not self.was_connected:
            self.tally.add("closed before connecting")
        self._finish()

    def handle_error(self) -> None:
        self.tally.add("error")
        self._finish()

    def _finish(self) -> None:
        if not self.finished:
            self.finished = True
            self.close()
            self.tally.add("finished")


def _run_workers(count: int, job: Callable[[int, random.Random], None]) -> None:
    def worker(index: int) -> None:
        rng = random.Random(index)
        for n in range(index, count, WORKERS):
            job(n, rng)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)


@pytest.fixture
def fresh_map(backend: str) -> Dict[Any, Any]:
    m: Dict[Any, Any] = asyncore_ng.ChannelMap()
    yield m
    asyncore.close_all(m, ignore_all=True)
    channels.unbind(m)


@pytest.mark.parametrize("style", ["poll", "loop"])
def test_worker_created_clients_are_never_closed_before_they_connect(
    fresh_map: Dict[Any, Any], use_poll: bool, style: str, backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    """1,000 channels made by workers with create_socket(), then connect() after a random
    pause of 0-5 ms: none is closed early, every one connects and is served."""
    if backend == "select" and use_poll:
        pytest.skip("the select backend cannot see hang-ups (docs/compat.md)")
    total = 1000
    server = EchoServer(fresh_map)
    # select() cannot watch a descriptor above 1023 (the backend drops such a channel, saying
    # so): on a slow machine the workers could get ahead of the loop by that many, so on that
    # backend at most 400 clients (800 descriptors with their server ends) are in flight.
    tally = Tally(total, threading.BoundedSemaphore(400) if backend == "select" else None)

    def job(n: int, rng: random.Random) -> None:
        if tally.slots is not None:
            assert tally.slots.acquire(timeout=60), tally.counts
        client = WorkerClient(fresh_map, tally, b"line %d\n" % n)
        time.sleep(rng.random() * 0.005)
        try:
            client.connect(server.address)
        except OSError as exc:  # the socket was closed under us: the bug
            tally.add(f"connect failed: {exc.errno}")
            tally.add("finished")

    with LoopThread(style, use_poll, fresh_map):
        _run_workers(total, job)
        assert tally.done.wait(60), (tally.counts, caplog.text[-3000:])
    report = (tally.counts, caplog.text[-3000:])  # (what the loop said, should one fail)
    assert tally.get("closed before connecting") == 0, report
    assert tally.get("connected") == total and tally.get("served") == total, report
    assert [k for k in tally.counts if k.startswith(("connect failed", "error"))] == [], report


def test_worker_created_listeners_accept(fresh_map: Dict[Any, Any], use_poll: bool, backend: str) -> None:
    """Listeners made by workers (create_socket, bind, a pause, listen) are never closed
    before listen() and accept their connection."""
    total = 200
    accepted = Tally(total)

    class Listener(asyncore.dispatcher):
        def handle_accepted(self, sock: socket.socket, addr: Any) -> None:
            sock.close()
            accepted.add("finished")
            self.close()

        def handle_close(self) -> None:
            accepted.add("closed early")
            self.close()

    clients: List[socket.socket] = []
    lock = threading.Lock()
    anchor_ours, anchor_theirs = socket.socketpair()  # keeps the map, and the loop, running
    anchor = asyncore.dispatcher(anchor_ours, fresh_map)
    anchor.handle_read = lambda: None  # type: ignore[method-assign]
    anchor.writable = lambda: False  # type: ignore[method-assign]

    def job(n: int, rng: random.Random) -> None:
        listener = Listener(map=fresh_map)
        listener.create_socket()
        listener.bind(("127.0.0.1", 0))
        time.sleep(rng.random() * 0.005)
        listener.listen(5)
        client = socket.create_connection(listener.socket.getsockname(), timeout=10)
        with lock:
            clients.append(client)

    try:
        with LoopThread("poll", use_poll, fresh_map):
            _run_workers(total, job)
            assert accepted.done.wait(60), accepted.counts
        assert accepted.get("closed early") == 0
    finally:
        anchor.close()
        for c in [*clients, anchor_theirs]:
            c.close()


# -- output from workers -------------------------------------------------------------------


class Collector(threading.Thread):
    """Reads one peer socket to the end."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self.sock = sock
        self.data = bytearray()

    def run(self) -> None:
        self.sock.settimeout(30)
        while True:
            chunk = self.sock.recv(65536)
            if not chunk:
                return
            self.data += chunk


@pytest.mark.parametrize("kind", ["dispatcher_with_send", "async_chat"])
def test_output_from_worker_threads_arrives_whole_and_in_order(fresh_map: Dict[Any, Any], kind: str) -> None:
    """Workers send()/push() to channels while the loop thread sends from the same buffers:
    every byte arrives, each worker's messages in its order, no BufferError, no corruption."""

    class Out(asynchat.async_chat):
        def collect_incoming_data(self, data: bytes) -> None:
            pass

        def found_terminator(self) -> None:
            pass

    pairs = [socket.socketpair() for _ in range(4)]
    for ours, _ in pairs:
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)  # small: output queues up
    if kind == "async_chat":
        chans: List[Any] = [Out(ours, fresh_map) for ours, _ in pairs]
        send = [c.push for c in chans]
    else:
        chans = [asyncore.dispatcher_with_send(ours, fresh_map) for ours, _ in pairs]
        send = [c.send for c in chans]
    collectors = [Collector(theirs) for _, theirs in pairs]
    for c in collectors:
        c.start()
    per_worker = 300

    def worker(w: int) -> None:
        rng = random.Random(w)
        for i in range(per_worker):
            target = rng.randrange(len(chans))
            send[target](b"<%d:%d:%s>" % (w, i, b"x" * rng.randrange(1, 3000)))

    try:
        with LoopThread("poll", False, fresh_map):
            threads = [threading.Thread(target=worker, args=(w,)) for w in range(WORKERS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            reactor = asyncore_ng.get_reactor(fresh_map)

            def drained() -> bool:
                # Sends from workers reach the buffers through the loop thread's queue.
                if reactor.has_pending_work():
                    return False
                return all(not (c.producer_fifo if kind == "async_chat" else c.out_buffer) for c in chans)

            deadline = time.monotonic() + 30
            while not drained() and time.monotonic() < deadline:
                time.sleep(0.01)  # polling another thread's progress, not ordering events
            assert drained()
        for c in chans:
            c.close()
        for _, theirs in pairs:
            theirs.shutdown(socket.SHUT_WR)
        for c in collectors:
            c.join(30)
    finally:
        for _, theirs in pairs:
            theirs.close()
    seen: Dict[int, List[int]] = {w: [] for w in range(WORKERS)}
    for c in collectors:
        data = bytes(c.data)
        messages = re.findall(rb"<(\d+):(\d+):(x*)>", data)
        assert sum(len(m[2]) + len(m[0]) + len(m[1]) + 4 for m in messages) == len(data)  # nothing else
        for w, i, _ in messages:
            seen[int(w)].append(int(i))
    for w, numbers in seen.items():
        assert sorted(numbers) == list(range(per_worker)), w
    # Per channel, each worker's messages keep their order.
    for c in collectors:
        order: Dict[int, int] = {}
        for w, i, _ in re.findall(rb"<(\d+):(\d+):(x*)>", bytes(c.data)):
            assert int(i) > order.get(int(w), -1)
            order[int(w)] = int(i)


# -- closes from workers ----------------------------------------------------------------------


def test_closes_from_worker_threads_under_load_make_no_noise(
    fresh_map: Dict[Any, Any], use_poll: bool, backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Busy echo channels are closed by worker threads while the loop serves them: no warning,
    no handle_close on a channel another thread closed, no poller rebuild, and the map and the
    kernel registrations agree at the end."""
    if backend == "select" and use_poll:
        pytest.skip("the select backend cannot see hang-ups (docs/compat.md)")
    late_closes: List[Any] = []

    class Busy(asyncore.dispatcher_with_send):
        closed_by_worker = False

        def handle_read(self) -> None:
            data = self.recv(8192)
            if data:
                self.send(data)

        def handle_close(self) -> None:
            if self.closed_by_worker:
                late_closes.append(self)
            self.close()

    total = 400
    peers: List[socket.socket] = []
    chans: List[Busy] = []
    for _ in range(total):
        ours, theirs = socket.socketpair()
        theirs.setblocking(False)
        peers.append(theirs)
        chans.append(Busy(ours, fresh_map))
    stop_feeding = threading.Event()

    def feeder() -> None:
        rng = random.Random(1)
        while not stop_feeding.is_set():
            peer = peers[rng.randrange(total)]
            try:
                peer.send(b"ping")
                peer.recv(65536)
            except OSError:
                pass

    with caplog.at_level(logging.DEBUG, logger="asyncore_ng"):
        with LoopThread("poll", use_poll, fresh_map):
            feed = threading.Thread(target=feeder)
            feed.start()
            try:

                def job(n: int, rng: random.Random) -> None:
                    if n % 2:
                        chans[n].closed_by_worker = True
                        chans[n].close()

                _run_workers(total, job)
                time.sleep(0.3)  # let the loop serve the survivors a while (not an ordering)
            finally:
                stop_feeding.set()
                feed.join(10)
        binding = channels.existing_binding(fresh_map)
        assert binding is not None
        reactor = binding.reactor
        asyncore.loop(timeout=0, use_poll=use_poll, map=fresh_map, count=2)
        try:
            assert set(binding.registrations()) == set(fresh_map)
            rebuilds = [r.getMessage() for r in caplog.records if "rebuilding" in r.getMessage()]
            assert reactor.statistics()["rebuilds"] == 0, rebuilds
            assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
            assert late_closes == []
            assert len(fresh_map) == total // 2
        finally:
            for p in peers:
                p.close()


def test_map_edits_from_workers_are_seen(fresh_map: Dict[Any, Any]) -> None:
    """Channels put into a plain dict map by hand from worker threads are served."""
    plain: Dict[Any, Any] = {}
    served = Tally(100)

    class Reader(asyncore.dispatcher):
        def handle_read(self) -> None:
            if self.recv(10):
                served.add("finished")
                self.close()

        def writable(self) -> bool:
            return False

    keep: List[socket.socket] = []
    lock = threading.Lock()
    anchor_ours, anchor_theirs = socket.socketpair()
    Reader(anchor_ours, plain)  # keeps the map non-empty

    def job(n: int, rng: random.Random) -> None:
        ours, theirs = socket.socketpair()
        reader = Reader(map={})  # not in plain yet
        reader.set_socket(ours, {})
        reader.connected = True
        reader._map = plain
        plain[ours.fileno()] = reader  # by hand
        theirs.send(b"hi")
        with lock:
            keep.append(theirs)

    try:
        with LoopThread("poll", False, plain):
            _run_workers(100, job)
            assert served.done.wait(30), served.counts
    finally:
        asyncore.close_all(plain, ignore_all=True)
        channels.unbind(plain)
        for s in [*keep, anchor_theirs]:
            s.close()


def test_backends_are_parametrized() -> None:
    assert available_backends()[0] in ("epoll", "poll")
