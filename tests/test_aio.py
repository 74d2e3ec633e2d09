"""asyncore_ng.aio: asyncore channels served by a running asyncio (or uvloop) loop, the
ASYNCORE_NG_BACKEND=asyncio/uvloop waiter, and the bridges between channels and coroutines.

Every test runs its coroutine under a deadline on a loop it creates and closes, on loopback
sockets, and leaves no channel, thread or descriptor behind (conftest checks the last two).
"""

from __future__ import annotations

import asyncio
import asyncore
import gc
import os
import socket
import subprocess
import sys
import threading
import weakref
from typing import Any, Awaitable, Callable, Dict, Iterator, List, TypeVar

import pytest
from conftest import UVLOOP_MISSING

import asyncore_ng
from asyncore_ng import aio
from asyncore_ng import loop as channels
from asyncore_ng.reactor import Reactor
from asyncore_ng.reactor.core import FOREIGN_WAIT

T = TypeVar("T")
DEADLINE = 10.0


@pytest.fixture(params=list(aio.KINDS))
def kind(request: pytest.FixtureRequest) -> str:
    if request.param == "uvloop" and UVLOOP_MISSING is not None:
        pytest.skip(UVLOOP_MISSING)
    return str(request.param)


def run(kind: str, main: Callable[[], Awaitable[T]]) -> T:
    """``main()`` on a new event loop of ``kind``, under a deadline; the loop is closed after."""
    loop = aio.new_event_loop(kind)
    try:
        return loop.run_until_complete(asyncio.wait_for(main(), DEADLINE))
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


@pytest.fixture
def m() -> Iterator[Dict[Any, Any]]:
    """A private map, emptied and unbound (its reactor closed) after the test."""
    the_map: Dict[Any, Any] = asyncore_ng.ChannelMap()
    yield the_map
    asyncore.close_all(the_map, ignore_all=True)
    channels.unbind(the_map)


class EchoHandler(asyncore.dispatcher_with_send):
    def handle_read(self) -> None:
        data = self.recv(8192)
        if data:
            self.send(data)


class EchoServer(asyncore.dispatcher):
    def __init__(self, map: Dict[Any, Any]) -> None:
        asyncore.dispatcher.__init__(self, map=map)
        self.create_socket(socket.AF_INET, socket.SOCK_STREAM)
        self.set_reuse_addr()
        self.bind(("127.0.0.1", 0))
        self.listen(5)
        self.address = self.socket.getsockname()
        self.handlers: List[EchoHandler] = []

    def handle_accepted(self, sock: socket.socket, addr: Any) -> None:
        self.handlers.append(EchoHandler(sock, map=self._map))


async def echo_once(address: Any, payload: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(*address)
    try:
        writer.write(payload)
        await writer.drain()
        return await reader.readexactly(len(payload))
    finally:
        writer.close()
        await writer.wait_closed()


# -- serve() and attach() ---------------------------------------------------------------------


def test_serve_an_asyncore_echo_server_beside_asyncio_clients(kind: str, m: Dict[Any, Any]) -> None:
    async def main() -> List[bytes]:
        server = EchoServer(m)
        serving = asyncio.ensure_future(aio.serve(m))
        answers = await asyncio.gather(*(echo_once(server.address, b"x%d" % i * 1000) for i in range(20)))
        server.close()
        for h in server.handlers:
            h.close()
        await asyncio.wait_for(serving, DEADLINE)  # the map is empty: serve() returns
        return answers

    answers = run(kind, main)
    assert answers == [b"x%d" % i * 1000 for i in range(20)]
    assert not m


def test_serve_returns_at_once_for_an_empty_map(kind: str, m: Dict[Any, Any]) -> None:
    run(kind, lambda: aio.serve(m))


@pytest.mark.parametrize("use_poll", [False, True], ids=["select-semantics", "poll-semantics"])
def test_out_of_band_data_reaches_handle_expt(kind: str, m: Dict[Any, Any], use_poll: bool) -> None:
    """Priority events survive the bridge (an asyncio reader per channel would lose them)."""
    got: List[bytes] = []

    class Expt(asyncore.dispatcher):
        def handle_expt(self) -> None:
            got.append(self.socket.recv(1, socket.MSG_OOB))
            self.close()

    async def main() -> None:
        listener = socket.create_server(("127.0.0.1", 0))
        client = socket.create_connection(listener.getsockname())
        conn, _ = listener.accept()
        listener.close()
        try:
            Expt(conn, map=m)
            client.send(b"!", socket.MSG_OOB)
            await aio.serve(m, use_poll=use_poll)
        finally:
            client.close()

    run(kind, main)
    assert got == [b"!"]


def test_hang_up_closes_under_poll_semantics(kind: str, m: Dict[Any, Any]) -> None:
    """A hang-up is reported raw (POLLHUP) and readwrite() closes the channel, as loop() does."""
    events: List[str] = []

    class Quiet(asyncore.dispatcher):
        def handle_read(self) -> None:
            events.append("read")  # (does not recv: only the hang-up can close it)

        def writable(self) -> bool:
            return False

        def handle_close(self) -> None:
            events.append("close")
            self.close()

    async def main() -> None:
        a, b = socket.socketpair()
        Quiet(a, map=m)
        b.close()
        await aio.serve(m, use_poll=True)

    run(kind, main)
    assert events == ["read", "close"]


def test_timers_use_the_event_loops_clock(kind: str, m: Dict[Any, Any]) -> None:
    order: List[str] = []

    async def main() -> None:
        a, b = socket.socketpair()
        channel = asyncore.dispatcher(a, map=m)
        attachment = aio.attach(m)
        try:
            reactor = asyncore_ng.get_reactor(m)
            assert reactor.clock == asyncio.get_running_loop().time
            done = asyncio.get_running_loop().create_future()
            channel.call_later(0.05, lambda: order.append("asyncore 0.05"))
            asyncio.get_running_loop().call_later(0.03, lambda: order.append("asyncio 0.03"))
            channel.call_later(0.08, lambda: (order.append("asyncore 0.08"), done.set_result(None)))
            await done
        finally:
            attachment.detach()
            channel.close()
            b.close()
        assert reactor.clock is not asyncio.get_running_loop().time  # given back on detach

    run(kind, main)
    assert order == ["asyncio 0.03", "asyncore 0.05", "asyncore 0.08"]


def test_another_thread_wakes_the_attachment(kind: str, m: Dict[Any, Any]) -> None:
    got: List[str] = []

    async def main() -> None:
        a, b = socket.socketpair()
        channel = asyncore.dispatcher(a, map=m)
        attachment = aio.attach(m, timeout=None)  # nothing else would wake it
        reactor = asyncore_ng.get_reactor(m)
        done = asyncio.get_running_loop().create_future()
        loop = asyncio.get_running_loop()

        def in_the_loop() -> None:
            got.append(threading.current_thread().name)
            loop.call_soon(done.set_result, None)

        worker = threading.Thread(target=reactor.call_soon_threadsafe, args=(in_the_loop,), name="worker")
        worker.start()
        try:
            await done
        finally:
            worker.join(DEADLINE)
            attachment.detach()
            channel.close()
            b.close()

    run(kind, main)
    assert got == [threading.current_thread().name]


def test_changes_made_by_asyncio_code_are_served_without_delay(kind: str, m: Dict[Any, Any]) -> None:
    """A channel made by a coroutine, and a dispatcher's call_later from one, between passes:
    the loop runs a pass before it next sleeps (timeout=None: nothing else wakes it)."""

    async def main() -> bytes:
        attachment = aio.attach(m, timeout=None)
        assert asyncore_ng.get_reactor(m).running_thread == FOREIGN_WAIT
        try:
            server = EchoServer(m)  # made between passes
            answer = await echo_once(server.address, b"made by asyncio code")
            fired = asyncio.get_running_loop().create_future()
            server.call_later(0.01, fired.set_result, "timer")
            assert await fired == "timer"
            return answer
        finally:
            attachment.detach()

    assert run(kind, main) == b"made by asyncio code"


def test_an_attachment_outlives_an_empty_map_until_detached(kind: str, m: Dict[Any, Any]) -> None:
    async def main() -> bytes:
        attachment = aio.attach(m)
        try:
            await asyncio.sleep(0.01)
            assert not attachment.closed and not attachment.finished.done()
            server = EchoServer(m)
            answer = await echo_once(server.address, b"later")
            server.close()
            for h in server.handlers:
                h.close()
            await asyncio.sleep(0.01)
            assert not attachment.closed
            return answer
        finally:
            attachment.detach()
            assert attachment.closed and attachment.finished.done()

    assert run(kind, main) == b"later"


def test_loop_called_inside_a_handler(kind: str, m: Dict[Any, Any]) -> None:
    """A handler that runs a nested loop() (the asyncio loop cannot run again: the nested
    passes wait in the kernel) on another map, then the outer serving goes on."""
    inner: Dict[Any, Any] = asyncore_ng.ChannelMap()
    seen: List[str] = []

    class Inner(asyncore.dispatcher):
        def handle_read(self) -> None:
            seen.append("inner " + self.recv(10).decode())
            self.close()

        def writable(self) -> bool:
            return False

    class Outer(asyncore.dispatcher):
        def handle_read(self) -> None:
            seen.append("outer " + self.recv(10).decode())
            a, b = socket.socketpair()
            Inner(a, map=inner)
            b.send(b"nested")
            asyncore.loop(timeout=1, map=inner)
            b.close()
            self.close()

        def writable(self) -> bool:
            return False

    async def main() -> None:
        a, b = socket.socketpair()
        Outer(a, map=m)
        b.send(b"go")
        try:
            await aio.serve(m)
        finally:
            b.close()

    try:
        run(kind, main)
    finally:
        channels.unbind(inner)
    assert seen == ["outer go", "inner nested"]


def test_cancelling_serve_leaves_the_channels_in_the_map(kind: str, m: Dict[Any, Any]) -> None:
    async def main() -> None:
        server = EchoServer(m)
        task = asyncio.ensure_future(aio.serve(m))
        assert await echo_once(server.address, b"ping") == b"ping"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert server in m.values()
        assert asyncore_ng.get_reactor(m).running_thread is None
        # ...and the map can be served again, by another attachment or by loop().
        task = asyncio.ensure_future(aio.serve(m))
        assert await echo_once(server.address, b"again") == b"again"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(kind, main)


def test_exit_now_and_handle_error_exceptions_leave_serve(kind: str, m: Dict[Any, Any]) -> None:
    class Quits(asyncore.dispatcher):
        def handle_read(self) -> None:
            raise asyncore.ExitNow("bye")

        def writable(self) -> bool:
            return False

    class Broken(asyncore.dispatcher):
        def handle_read(self) -> None:
            raise ValueError("in handle_read")

        def handle_error(self) -> None:
            raise RuntimeError("handle_error raised")

        def writable(self) -> bool:
            return False

    for cls, expected in ((Quits, asyncore.ExitNow), (Broken, RuntimeError)):
        a, b = socket.socketpair()
        cls(a, map=m)
        b.send(b"x")
        try:
            with pytest.raises(expected):
                run(kind, lambda: aio.serve(m))
        finally:
            asyncore.close_all(m)
            b.close()
        assert asyncore_ng.get_reactor(m).running_thread is None


def test_stop_ends_serve(kind: str, m: Dict[Any, Any]) -> None:
    async def main() -> None:
        server = EchoServer(m)
        asyncio.get_running_loop().call_later(0.02, asyncore_ng.get_reactor(m).stop)
        await aio.serve(m)
        assert server in m.values()

    run(kind, main)


def test_refused_on_a_loop_without_add_reader(m: Dict[Any, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    class Proactor(asyncio.SelectorEventLoop):
        pass

    monkeypatch.setattr(asyncio, "ProactorEventLoop", Proactor, raising=False)
    loop = Proactor()
    try:
        with pytest.raises(aio.BridgeUnavailable, match="proactor event loop: it has no add_reader"):
            aio.attach(m, loop=loop)
    finally:
        loop.close()

    class NoReader(asyncio.SelectorEventLoop):
        def add_reader(self, *args: Any) -> None:
            raise NotImplementedError

    loop = NoReader()
    try:
        with pytest.raises(aio.BridgeUnavailable, match="NoReader has no add_reader"):
            aio.attach(m, loop=loop)
        assert asyncore_ng.get_reactor(m).running_thread is None
    finally:
        loop.close()


def test_refused_for_a_poller_without_a_descriptor(
    m: Dict[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASYNCORE_NG_BACKEND", "poll")
    channels.unbind(m)
    loop = asyncio.SelectorEventLoop()
    try:
        with pytest.raises(aio.BridgeUnavailable, match="the poll poller has no descriptor"):
            aio.attach(m, loop=loop)
    finally:
        loop.close()


def test_attaching_a_map_twice_is_refused(m: Dict[Any, Any]) -> None:
    async def main() -> None:
        first = aio.attach(m)
        try:
            with pytest.raises(RuntimeError, match="already being run"):
                aio.attach(m)
        finally:
            first.detach()

    run("asyncio", main)


# -- ASYNCORE_NG_BACKEND=asyncio / uvloop ----------------------------------------------------------


@pytest.fixture
def env_backend(kind: str, monkeypatch: pytest.MonkeyPatch, m: Dict[Any, Any]) -> Iterator[str]:
    monkeypatch.setenv("ASYNCORE_NG_BACKEND", kind)
    channels.unbind(m)
    yield kind
    channels.unbind(m)


def test_the_environment_chooses_a_loop_waiter(env_backend: str, m: Dict[Any, Any]) -> None:
    reactor = asyncore_ng.get_reactor(m)
    assert isinstance(reactor.waiter, aio.LoopWaiter) and reactor.waiter.kind == env_backend
    assert reactor.backend == "epoll"
    server = EchoServer(m)
    client = socket.create_connection(server.address)
    try:
        client.sendall(b"hello")
        got = b""
        while got != b"hello":
            asyncore.loop(timeout=1, map=m, count=1)
            try:
                got += client.recv(10, socket.MSG_DONTWAIT)
            except BlockingIOError:
                pass
        loop = reactor.waiter.event_loop()
        assert (env_backend == "uvloop") == (type(loop).__module__.startswith("uvloop"))
    finally:
        client.close()


def test_loop_without_count_is_one_run_of_the_event_loop(env_backend: str, m: Dict[Any, Any]) -> None:
    """loop() without count runs as one run of the event loop (the passes in its callbacks):
    handlers see it running; a stop from another thread, ExitNow and the map emptying end it."""
    seen: List[Any] = []
    stoppers: List[threading.Thread] = []
    reactor = asyncore_ng.get_reactor(m)
    waiter = reactor.waiter
    assert isinstance(waiter, aio.LoopWaiter)

    class Probe(asyncore.dispatcher):
        def handle_read(self) -> None:
            data = self.recv(100)
            seen.append((data, asyncio.get_running_loop() is waiter.event_loop()))
            if data == b"stop":
                stopper = threading.Thread(target=reactor.stop)
                stoppers.append(stopper)
                stopper.start()
            elif data == b"exit":
                raise asyncore.ExitNow("bye")
            else:
                self.close()

        def writable(self) -> bool:
            return False

    a, b = socket.socketpair()
    Probe(a, map=m)
    try:
        b.send(b"stop")
        asyncore.loop(timeout=5, map=m)  # returns on the stop
        b.send(b"exit")
        with pytest.raises(asyncore.ExitNow):
            asyncore.loop(timeout=5, map=m, use_poll=True)
        b.send(b"last")
        asyncore.loop(timeout=5, map=m)  # returns when the map is empty
    finally:
        b.close()
        for stopper in stoppers:
            stopper.join(DEADLINE)
    assert seen == [(b"stop", True), (b"exit", True), (b"last", True)]
    assert not m and reactor.running_thread is None


def test_dropped_maps_close_their_event_loops(env_backend: str) -> None:
    """Throwaway maps on the event-loop backend: each reactor's event loop is closed when the
    map, its reactor and its waiter are collected (a cycle: the order of finalizers is not
    ours), quietly and without leaving a descriptor (the autouse fixture counts them)."""

    class Reader(asyncore.dispatcher):
        def handle_read(self) -> None:
            self.recv(100)

        def writable(self) -> bool:
            return False

    for _ in range(30):
        throwaway: Dict[Any, Any] = {}
        a, b = socket.socketpair()
        channel = Reader(a, map=throwaway)
        b.send(b"x")
        asyncore.loop(timeout=0.01, map=throwaway, count=1)
        channel.close()
        b.close()
        del throwaway, channel
    gc.collect()


def test_start_a_coroutine_from_a_handler(kind: str, m: Dict[Any, Any]) -> None:
    """Under serve(): a handler starts a coroutine, the result comes back to the channel; an
    exception goes to handle_error with its traceback; a cancelled call calls nothing."""
    log: List[str] = []

    class Asks(asyncore.dispatcher):
        def handle_read(self) -> None:
            word = self.recv(100).decode()
            aio.start(self, answer(word), self.on_answer)

        def on_answer(self, text: str) -> None:
            log.append(text)
            if text == "done":
                self.close()

        def handle_error(self) -> None:
            _, t, v, info = asyncore.compact_traceback()
            log.append(f"error {t.__name__}: {v} in answer: {'|answer|' in info}")

        def writable(self) -> bool:
            return False

    async def answer(word: str) -> str:
        await asyncio.sleep(0.001)
        if word == "boom":
            raise ValueError("boom")
        return word

    async def main() -> None:
        a, b = socket.socketpair()
        channel = Asks(a, map=m)
        serving = asyncio.ensure_future(aio.serve(m))
        await asyncio.sleep(0)  # serving now
        try:
            cancelled = aio.start(channel, asyncio.sleep(10, "never"), log.append)
            cancelled.cancel()
            for word in ("one", "boom", "done"):
                b.send(word.encode())
                while len(log) < {"one": 1, "boom": 2, "done": 3}[word]:
                    await asyncio.sleep(0.001)
            await serving
        finally:
            b.close()

    run(kind, main)
    assert log == ["one", "error ValueError: boom in answer: True", "done"]


def test_start_keeps_its_task_alive(kind: str, m: Dict[Any, Any]) -> None:
    """asyncio holds tasks weakly: a coroutine whose awaited future only it holds (as a stream's
    reader, which its protocol holds weakly) must survive a garbage collection."""
    got: List[str] = []

    class Holder:
        fut: Any = None

    async def orphan() -> str:
        loop = asyncio.get_running_loop()
        holder = Holder()
        holder.fut = loop.create_future()
        ref = weakref.ref(holder)

        def resolve() -> None:
            alive = ref()
            if alive is not None:
                alive.fut.set_result("alive")

        loop.call_later(0.02, resolve)
        return str(await holder.fut)

    async def main() -> None:
        a, b = socket.socketpair()
        channel = asyncore.dispatcher(a, map=m)
        attachment = aio.attach(m)
        try:
            aio.start(channel, orphan(), got.append)  # the task is not kept by the caller
            await asyncio.sleep(0.005)
            gc.collect()
            while not got:
                await asyncio.sleep(0.005)
        finally:
            attachment.detach()
            channel.close()
            b.close()

    run(kind, main)
    assert got == ["alive"]


def test_start_under_the_environment_backend(env_backend: str, m: Dict[Any, Any]) -> None:
    """With ASYNCORE_NG_BACKEND=asyncio, plain asyncore.loop() runs the coroutines too."""
    got: List[Any] = []

    class Asks(asyncore.dispatcher):
        def handle_read(self) -> None:
            self.recv(10)
            aio.start(self, echo_once(server.address, b"via asyncio"), self.done)

        def done(self, answer: bytes) -> None:
            got.append(answer)
            self.close()
            server.close()
            for h in server.handlers:
                h.close()

        def writable(self) -> bool:
            return False

    server = EchoServer(m)
    a, b = socket.socketpair()
    Asks(a, map=m)
    b.send(b"go")
    try:
        asyncore.loop(timeout=5, map=m)
    finally:
        b.close()
    assert got == [b"via asyncio"]


def test_start_without_an_asyncio_loop_is_refused(m: Dict[Any, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASYNCORE_NG_BACKEND", "epoll")
    channels.unbind(m)
    a, b = socket.socketpair()
    channel = asyncore.dispatcher(a, map=m)

    async def nothing() -> None:
        pass

    coro = nothing()
    try:
        with pytest.raises(RuntimeError, match="not served by an asyncio loop"):
            aio.start(channel, coro)
    finally:
        coro.close()
        channel.close()
        b.close()


def test_loop_from_a_coroutine_with_the_environment_backend(env_backend: str, m: Dict[Any, Any]) -> None:
    """asyncore.loop() called from a coroutine cannot run the (running) asyncio loop: its
    passes wait in the kernel, as any blocking call would, and it works."""

    async def main() -> bytes:
        server = EchoServer(m)
        client = socket.create_connection(server.address)
        try:
            client.sendall(b"blocking")
            got = b""
            while got != b"blocking":
                asyncore.loop(timeout=1, map=m, count=1)
                try:
                    got += client.recv(10, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    pass
            return got
        finally:
            client.close()

    assert run(env_backend, main) == b"blocking"


def test_unknown_backend_names_what_is_available(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASYNCORE_NG_BACKEND", "tokio")
    with pytest.raises(ValueError, match=r"unknown or unavailable backend 'tokio'.*asyncio, uvloop"):
        Reactor()


def test_missing_uvloop_is_a_clear_error(tmp_path: Any) -> None:
    code = (
        "import sys; sys.modules['uvloop'] = None\n"
        "import asyncore_ng\n"
        "try:\n"
        "    asyncore_ng.get_reactor({})\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    env = dict(os.environ, ASYNCORE_NG_BACKEND="uvloop")
    root = os.path.dirname(os.path.dirname(os.path.abspath(asyncore_ng.__file__)))
    env["PYTHONPATH"] = os.pathsep.join([root, env.get("PYTHONPATH", "")])
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        cwd=str(tmp_path),
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("BridgeUnavailable ASYNCORE_NG_BACKEND=uvloop, but uvloop is not installed")
    assert "available: epoll" in out.stdout and "asyncio" in out.stdout


# -- sockets between asyncio code and dispatchers -------------------------------------------------


def test_adopt_and_release_a_socket(kind: str, m: Dict[Any, Any]) -> None:
    async def main() -> List[bytes]:
        loop = asyncio.get_running_loop()
        listener = socket.create_server(("127.0.0.1", 0))
        listener.setblocking(False)
        attachment = aio.attach(m)
        reader, writer = await asyncio.open_connection(*listener.getsockname())
        try:
            conn, _ = await loop.sock_accept(listener)
            seen = []
            # asyncio code speaks first, then hands the socket to a dispatcher...
            await loop.sock_sendall(conn, b"hello from asyncio\n")
            seen.append(await reader.readline())
            handler = aio.adopt(conn, EchoHandler, map=m)
            writer.write(b"echo me\n")
            seen.append(await reader.readline())
            # ...and takes it back.
            sock = aio.release_socket(handler)
            assert handler not in m.values() and sock is conn
            writer.write(b"to asyncio again\n")
            seen.append(await loop.sock_recv(sock, 100))
            sock.close()
            return seen
        finally:
            writer.close()
            await writer.wait_closed()
            attachment.detach()
            listener.close()

    assert run(kind, main) == [b"hello from asyncio\n", b"echo me\n", b"to asyncio again\n"]
