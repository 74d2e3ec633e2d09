"""The engine's own state against the program's (docs/state.md): what the engine keeps beside
the program's objects is released when the program lets go, keeps the program's order, hides
nothing the stdlib's names would show, and asks the kernel where flags cannot know.

Each test here is a behaviour a real program met: a closed channel kept alive by the loop (a
``makefile()`` reader then keeps the connection open), a map made per call leaking a reactor,
a socket the program connected itself never polled, a worker's "send, then close" reordered,
bytes hidden in read-ahead or corked replies, two threads serving one map. The reference
counting tests run with the cyclic collector off: the stdlib freed a closed dispatcher by
reference count, and programs rely on that.
"""

from __future__ import annotations

import asynchat
import asyncore
import errno
import gc
import select
import socket
import threading
import time
import weakref
from typing import Any, Dict, Iterator, List, Optional

import pytest
from conftest import open_fds, run_until
from test_threads import LoopThread

import asyncore_ng
from asyncore_ng import aio
from asyncore_ng import loop as channels
from asyncore_ng.reactor import ConcurrentPassError

DEADLINE = 10.0


@pytest.fixture
def gc_off() -> Iterator[None]:
    """The cyclic collector off (what a long-running process that freezes or disables it
    sees): only reference counting frees objects."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.fixture
def fresh_map() -> Iterator[Dict[Any, Any]]:
    m: Dict[Any, Any] = {}
    yield m
    asyncore.close_all(m, ignore_all=True)
    channels.unbind(m)


class Echo(asyncore.dispatcher_with_send):
    def handle_read(self) -> None:
        data = self.recv(8192)
        if data:
            self.send(data)


def _recv_exactly(sock: socket.socket, size: int, timeout: float = DEADLINE) -> bytes:
    sock.settimeout(timeout)
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _recv_until_eof(sock: socket.socket, timeout: float = DEADLINE) -> bytes:
    sock.settimeout(timeout)
    data = bytearray()
    while True:
        chunk = sock.recv(1 << 20)
        if not chunk:
            return bytes(data)
        data += chunk


# -- 1. lifetimes: a channel that left its map is the program's alone ------------------------------


@pytest.mark.parametrize("how", ["close", "close_all", "handle_close_in_pass", "del_channel"])
@pytest.mark.parametrize("use_poll", [False, True], ids=["select-semantics", "poll-semantics"])
def test_a_closed_channel_is_freed_by_reference_counting(
    gc_off: None, fresh_map: Dict[Any, Any], how: str, use_poll: bool
) -> None:
    """Served, given engine state of every kind (a registration, an interest change queued,
    an idle-timeout timer, output queued), then closed: no engine structure holds it when the
    call returns."""

    class Closer(Echo):
        def handle_read(self) -> None:
            if self.recv(100) == b"bye":
                self.close()

    ours, theirs = socket.socketpair()
    other_ours, other_theirs = socket.socketpair()
    Echo(other_ours, fresh_map)  # another channel: the map does not end empty
    chan = Closer(ours, fresh_map)
    chan.set_idle_timeout(300)
    chan.send(b"ping")
    run_until(lambda: select.select([theirs], [], [], 0)[0], map=fresh_map, use_poll=use_poll)
    assert theirs.recv(4) == b"ping"
    ref = weakref.ref(chan)
    chan.out_buffer = b"queued" * 1000  # an interest change the loop has not looked at yet
    if how == "close":
        chan.close()
    elif how == "close_all":
        asyncore.close_all(fresh_map)
    elif how == "del_channel":
        chan.del_channel()
        chan.socket.close()
    else:
        theirs.sendall(b"bye")
        run_until(lambda: ref() is None or ref().socket.fileno() < 0, map=fresh_map, use_poll=use_poll)
    del chan
    assert ref() is None, f"still referred to by {gc.get_referrers(ref())}"
    theirs.close()
    other_theirs.close()


@pytest.mark.parametrize("use_poll", [False, True], ids=["select-semantics", "poll-semantics"])
def test_a_makefile_reader_lets_the_connection_close_with_its_channel(gc_off: None, use_poll: bool) -> None:
    """The WSGI-server shape: the handler reads through ``sock.makefile()``, whose reader keeps
    the descriptor open until it is freed. After ``close()`` the peer must see the end of the
    connection at once, as with the stdlib (the handler and its reader freed by reference
    count); a loop that still held the handler kept the peer waiting for ever."""
    m: Dict[Any, Any] = {}

    class Handler(asyncore.dispatcher):
        def __init__(self, sock: socket.socket) -> None:
            super().__init__(sock, m)
            self.reader = self.socket.makefile("rb")

        def handle_read(self) -> None:
            if self.recv(100) == b"bye":
                self.close()

        def writable(self) -> bool:
            return False

    ours, theirs = socket.socketpair()
    Handler(ours)
    del ours
    theirs.sendall(b"bye")
    try:
        asyncore.loop(timeout=0.05, use_poll=use_poll, map=m, count=100)  # returns once it is closed
        assert not m
        theirs.settimeout(5)
        assert theirs.recv(10) == b""  # the connection ended: nothing holds the handler
    finally:
        theirs.close()
        channels.unbind(m)


def test_cancelled_timers_let_go_of_their_callbacks(gc_off: None) -> None:
    reactor = asyncore_ng.Reactor()
    try:

        class Owner:
            pass

        owner = Owner()
        ref = weakref.ref(owner)
        handle = reactor.call_later(3600, lambda o=owner: None)
        handle.cancel()
        del owner
        assert ref() is None  # the heap entry waits for compaction; the callback is gone
    finally:
        reactor.close()


def test_a_finished_loop_thread_is_not_kept_alive(gc_off: None, fresh_map: Dict[Any, Any]) -> None:
    """The reactor remembers which thread ran its passes, but not by holding the thread: once
    a thread that ran loop() ends, its object goes (CPython's test_asyncore waits for the
    threads it started to be gone, and under load timed out waiting for ours)."""
    ours, peer = socket.socketpair()
    try:
        Echo(ours, map=fresh_map)
        args = {"timeout": 0.01, "count": 3, "map": fresh_map}
        thread = threading.Thread(target=asyncore.loop, kwargs=args)
        thread.start()
        thread.join(DEADLINE)
        assert not thread.is_alive()
        assert channels.existing_binding(fresh_map) is not None  # (the reactor lives on)
        ref = weakref.ref(thread)
        del thread
        assert ref() is None
    finally:
        peer.close()


# -- 2. a map per call -----------------------------------------------------------------------------


@pytest.mark.parametrize("poll_function", ["poll", "poll2"])
def test_a_fresh_map_per_call_costs_no_descriptors(gc_off: None, poll_function: str) -> None:
    """The IRC-client shape: ``asyncore.poll(timeout, map={self.socket: self})`` with a new
    dict every call. Descriptors stay flat over 10,000 calls (the binding of the map the
    program let go of serves the next one), and the channel is served throughout."""
    own: Dict[Any, Any] = {}
    ours, theirs = socket.socketpair()

    class Client(asyncore.dispatcher):
        got = b""

        def handle_read(self) -> None:
            self.got += self.recv(100)

        def writable(self) -> bool:
            return False

    client = Client(ours, own)
    poll = getattr(asyncore, poll_function)
    try:
        poll(0, {client.socket: client})
        after_first = open_fds()
        for i in range(10_000):
            if i == 5_000:
                theirs.sendall(b"hello")
            poll(0, {client.socket: client})
            if i == 2_000:
                assert open_fds() == after_first
        assert open_fds() == after_first
        assert client.got == b"hello"
        ref = weakref.ref(client)
        client.close()
        del client
        assert ref() is None  # and the last throwaway map, which held it, is not held either
    finally:
        theirs.close()
        asyncore.close_all(own)


def test_the_binding_of_a_dropped_map_is_released_when_another_is_bound(gc_off: None) -> None:
    before = open_fds()
    ours, theirs = socket.socketpair()
    m: Dict[Any, Any] = {}
    chan = Echo(ours, m)
    asyncore.loop(timeout=0, map=m, count=1)  # the map's reactor holds descriptors now
    assert open_fds() > before + 2
    ref = weakref.ref(chan)
    chan.del_channel()
    chan.socket.close()
    del chan, m  # the program let go of the map and its channel without close_all()
    other: Dict[Any, Any] = {}
    asyncore.close_all(other)  # any close_all() sweeps the registry
    theirs.close()
    assert ref() is None
    assert open_fds() <= before


# -- 3. the kernel's view of a socket ---------------------------------------------------------------


class SelfConnecting(asyncore.dispatcher):
    """The BACnet-client shape: ``create_socket()``, then ``self.socket.connect_ex()`` by the
    program itself; the connection is judged in ``handle_write`` from ``SO_ERROR``."""

    def __init__(self, map: Dict[Any, Any]) -> None:
        self.outcome: Optional[str] = None
        self.got = b""
        self.sent = False
        super().__init__(map=map)
        self.create_socket(socket.AF_INET, socket.SOCK_STREAM)

    def start(self, address: Any) -> None:
        self.socket.connect_ex(address)

    def handle_write(self) -> None:
        err = self.socket.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self.outcome = errno.errorcode[err]
            self.close()
        elif not self.sent:
            self.sent = True
            self.outcome = "connected"
            self.send(b"ping")

    def handle_read(self) -> None:
        try:
            self.got += self.recv(100)
        except OSError as exc:
            self.outcome = errno.errorcode.get(exc.errno or 0, str(exc))
            self.close()

    def writable(self) -> bool:
        return not self.sent


@pytest.mark.parametrize("use_poll", [False, True], ids=["select-semantics", "poll-semantics"])
def test_a_socket_the_program_connected_itself_gets_its_events(
    fresh_map: Dict[Any, Any], use_poll: bool, backend: str
) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    try:
        client = SelfConnecting(fresh_map)
        client.start(listener.getsockname())
        run_until(lambda: client.outcome is not None, map=fresh_map, use_poll=use_poll)
        assert client.outcome == "connected"
        peer, _ = listener.accept()
        with peer:
            assert _recv_exactly(peer, 4) == b"ping"
            peer.sendall(b"pong")
            run_until(lambda: client.got == b"pong", map=fresh_map, use_poll=use_poll)
    finally:
        listener.close()


@pytest.mark.parametrize("use_poll", [False, True], ids=["select-semantics", "poll-semantics"])
def test_a_refused_connect_the_program_made_itself_is_reported(
    fresh_map: Dict[Any, Any], use_poll: bool, backend: str
) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
    try:
        client = SelfConnecting(fresh_map)
        client.start(closed.getsockname())
        run_until(lambda: client.outcome is not None, map=fresh_map, use_poll=use_poll)
        assert client.outcome == "ECONNREFUSED"
    finally:
        closed.close()


def test_a_worker_connecting_through_the_socket_itself_is_served(fresh_map: Dict[Any, Any]) -> None:
    """Both at once: a worker thread makes the socket (the loop thread sees a socket nothing
    was asked of: no events, it is not closed early), then connects it itself."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    made = threading.Event()
    go = threading.Event()
    box: List[SelfConnecting] = []

    def worker() -> None:
        box.append(SelfConnecting(fresh_map))
        made.set()
        go.wait(DEADLINE)
        box[0].start(listener.getsockname())

    keep_ours, keep_theirs = socket.socketpair()
    Echo(keep_ours, fresh_map)  # (the map is not empty while the worker makes its channel)
    try:
        with LoopThread("poll", False, fresh_map):
            t = threading.Thread(target=worker)
            t.start()
            assert made.wait(DEADLINE)
            reactor = asyncore_ng.get_reactor(fresh_map)
            passes = reactor.statistics()["passes"]
            deadline = time.monotonic() + DEADLINE
            while reactor.statistics()["passes"] < passes + 3 and time.monotonic() < deadline:
                time.sleep(0.01)  # (waiting for the loop thread to run passes, not for an event)
            assert box[0].outcome is None and box[0].socket.fileno() >= 0  # not closed early
            go.set()
            t.join(DEADLINE)
            peer, _ = listener.accept()
            with peer:
                assert _recv_exactly(peer, 4) == b"ping"
            assert box[0].outcome == "connected"
    finally:
        listener.close()
        keep_theirs.close()


# -- 4. operations of worker threads keep their order ----------------------------------------------


class Chat(asynchat.async_chat):
    def collect_incoming_data(self, data: bytes) -> None:
        pass

    def found_terminator(self) -> None:
        pass


@pytest.mark.parametrize(
    "ops",
    ["push+close_when_done", "push_with_producer+close_when_done", "send+close", "send+handle_close"],
)
def test_output_then_close_from_a_worker_thread_keeps_their_order(
    fresh_map: Dict[Any, Any], ops: str
) -> None:
    def worker(chan: Any, payload: bytes) -> None:
        if ops == "push+close_when_done":
            chan.push(payload)
            chan.close_when_done()
        elif ops == "push_with_producer+close_when_done":
            chan.push_with_producer(asynchat.simple_producer(payload, 7))
            chan.close_when_done()
        elif ops == "send+close":
            chan.send(payload)
            chan.close()
        else:
            chan.send(payload)
            chan.handle_close()

    for run in range(10):
        ours, theirs = socket.socketpair()
        chan: Any = Chat(ours, fresh_map) if "push" in ops else asyncore.dispatcher_with_send(ours, fresh_map)
        if ops == "send+handle_close":
            chan.handle_close = chan.close  # (no "unhandled close event" line)
        payload = b"bye %d " % run * 100
        with LoopThread("loop", False, fresh_map):
            t = threading.Thread(target=worker, args=(chan, payload))
            t.start()
            t.join(DEADLINE)
            try:
                assert _recv_until_eof(theirs) == payload, run
            finally:
                theirs.close()


# -- 5. bulk input hides nothing ---------------------------------------------------------------------


class BulkReplies(asyncore.dispatcher_with_send):
    """Answers each 8 KiB request with a reply of a type that rotates (bytes, bytearray,
    memoryview), numbered; closes once ``out_buffer`` is empty after the last request (the
    idiom that must not lose queued bytes)."""

    ng_bulk_input = True
    reply_size = 64 * 1024

    def __init__(self, sock: socket.socket, map: Dict[Any, Any], requests: int) -> None:
        super().__init__(sock, map)
        self.requests = requests
        self.seen = 0

    def handle_read(self) -> None:
        data = self.recv(8192)
        if not data:
            return
        reply = b"%08d" % self.seen + b"r" * (self.reply_size - 8)
        kind = self.seen % 3
        self.send(reply if kind == 0 else bytearray(reply) if kind == 1 else memoryview(reply))
        self.seen += 1
        self._close_if_done()

    def handle_write(self) -> None:
        self.initiate_send()
        self._close_if_done()

    def _close_if_done(self) -> None:
        if self.seen == self.requests and not self.out_buffer:
            self.close()


def test_bulk_replies_are_in_out_buffer_and_keep_their_order(fresh_map: Dict[Any, Any]) -> None:
    requests = 64
    ours, theirs = socket.socketpair()
    theirs.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    chan = BulkReplies(ours, fresh_map, requests)
    theirs.sendall(b"q" * 8192 * requests)  # all requests at once: read ahead, served in bursts
    got = bytearray()
    done = threading.Event()

    def reader() -> None:
        got.extend(_recv_until_eof(theirs, 30))
        done.set()

    t = threading.Thread(target=reader)
    t.start()
    try:
        run_until(done.is_set, map=fresh_map, timeout=30)
    finally:
        t.join(30)
        theirs.close()
    assert len(got) == requests * BulkReplies.reply_size  # nothing dropped by the close
    numbers = [int(got[i : i + 8]) for i in range(0, len(got), BulkReplies.reply_size)]
    assert numbers == list(range(requests))  # every type of reply in order
    assert chan.seen == requests


def test_release_socket_hands_over_read_ahead_bytes(fresh_map: Dict[Any, Any]) -> None:
    class Reader(asyncore.dispatcher):
        ng_bulk_input = True

        def __init__(self, sock: socket.socket) -> None:
            super().__init__(sock, fresh_map)
            self.first = b""

        def handle_read(self) -> None:
            if not self.first:
                self.first = self.recv(8)

        @asyncore_ng.state_predicate
        def writable(self) -> bool:
            return False

    ours, theirs = socket.socketpair()
    reader = Reader(ours)
    theirs.sendall(b"A" * 8)
    run_until(lambda: reader.first, map=fresh_map)
    theirs.sendall(b"B" * 100_000)
    consumed = bytearray()
    reader.handle_read = lambda: consumed.extend(reader.recv(8))  # type: ignore[method-assign]
    run_until(lambda: reader._ng_held, map=fresh_map)  # (a read of 8 came back full: it read ahead)
    with pytest.raises(aio.PendingInput) as info:
        aio.release_socket(reader)
    assert "read ahead" in str(info.value)
    sock, pending = aio.release_socket(reader, with_input=True)
    try:
        theirs.close()
        assert pending
        assert consumed + pending + _recv_until_eof(sock) == b"B" * 100_000
    finally:
        sock.close()


# -- 7. one map, one thread ---------------------------------------------------------------------------


def test_a_second_thread_serving_a_map_gets_a_clear_error(fresh_map: Dict[Any, Any]) -> None:
    ours, theirs = socket.socketpair()
    Echo(ours, fresh_map)
    errors: List[BaseException] = []

    def second() -> None:
        try:
            asyncore.loop(timeout=0.01, map=fresh_map, count=1)
        except BaseException as exc:
            errors.append(exc)

    try:
        with LoopThread("loop", False, fresh_map):
            t = threading.Thread(target=second, name="second-server")
            t.start()
            t.join(DEADLINE)
            theirs.sendall(b"still served")
            assert _recv_exactly(theirs, 12) == b"still served"  # the first thread was not disturbed
    finally:
        theirs.close()
    assert len(errors) == 1 and isinstance(errors[0], ConcurrentPassError), errors
    assert "second-server" in str(errors[0]) and "loop-loop" in str(errors[0])
