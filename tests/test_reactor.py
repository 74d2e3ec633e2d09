"""The reactor on its own: timers, callbacks, wake-ups, watches, backends."""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
from typing import Any, Dict, List, Tuple

import pytest

from asyncore_ng.reactor import PRI, READ, WRITE, Reactor, ReactorClosed, available_backends
from asyncore_ng.reactor.timers import COMPACT_MIN


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=available_backends())
def reactor(request: pytest.FixtureRequest, clock: FakeClock) -> Any:
    r = Reactor(poller=request.param, clock=clock)
    yield r
    r.close()


@pytest.fixture
def real_reactor(request: pytest.FixtureRequest) -> Any:
    r = Reactor()
    yield r
    r.close()


# -- timers ---------------------------------------------------------------------------------


def test_timers_run_in_deadline_order_ties_in_schedule_order(reactor: Reactor, clock: FakeClock) -> None:
    ran: List[str] = []
    reactor.call_later(3, ran.append, "c")
    reactor.call_later(1, ran.append, "a1")
    reactor.call_at(clock.now + 1, ran.append, "a2")
    reactor.call_later(2, ran.append, "b")
    reactor.run_once(0)
    assert ran == []
    clock.now += 1
    reactor.run_once(0)
    assert ran == ["a1", "a2"]
    clock.now += 5
    reactor.run_once(0)
    assert ran == ["a1", "a2", "b", "c"]
    assert reactor.pending_timers() == 0


def test_cancelled_timer_never_runs_even_when_cancelled_by_an_earlier_timer(
    reactor: Reactor, clock: FakeClock
) -> None:
    ran: List[str] = []
    victim = reactor.call_later(1, ran.append, "victim")
    reactor.call_later(0.5, victim.cancel)
    reactor.call_later(1, ran.append, "other")
    clock.now += 2
    reactor.run_once(0)
    assert ran == ["other"]
    victim.cancel()  # idempotent
    assert reactor.pending_timers() == 0


def test_timer_scheduled_for_now_by_a_timer_runs_on_the_next_pass(reactor: Reactor, clock: FakeClock) -> None:
    ran: List[int] = []

    def again(n: int) -> None:
        ran.append(n)
        reactor.call_later(0, again, n + 1)

    reactor.call_later(0, again, 0)
    for expected in range(1, 4):
        reactor.run_once(0)
        assert len(ran) == expected  # one per pass: never an endless pass


def test_call_every_repeats_survives_errors_and_cancels_itself(reactor: Reactor, clock: FakeClock) -> None:
    runs: List[float] = []
    errors: List[BaseException] = []
    reactor.set_exception_handler(lambda r, ctx: errors.append(ctx["exception"]))

    def tick() -> None:
        runs.append(clock.now)
        if len(runs) == 2:
            raise RuntimeError("boom")
        if len(runs) == 4:
            handle.cancel()

    handle = reactor.call_every(10, tick)
    for _ in range(6):
        clock.now += 10
        reactor.run_once(0)
    assert runs == [1010.0, 1020.0, 1030.0, 1040.0]
    assert len(errors) == 1 and isinstance(errors[0], RuntimeError)
    with pytest.raises(ValueError):
        reactor.call_every(0, tick)


def test_late_repeating_timer_does_not_burst_to_catch_up(reactor: Reactor, clock: FakeClock) -> None:
    runs: List[float] = []
    reactor.call_every(1, lambda: runs.append(clock.now))
    clock.now += 100
    reactor.run_once(0)
    reactor.run_once(0)
    assert len(runs) == 1


def test_exception_in_timer_goes_to_handler_and_the_pass_goes_on(reactor: Reactor, clock: FakeClock) -> None:
    seen: List[Tuple[BaseException, Dict[str, Any]]] = []
    reactor.set_exception_handler(lambda r, ctx: seen.append((ctx["exception"], ctx)))
    ran: List[str] = []
    reactor.call_later(0, lambda: 1 / 0)
    reactor.call_later(0, ran.append, "after")
    reactor.call_soon(lambda: [][1])
    reactor.call_soon(ran.append, "soon")
    reactor.run_once(0)
    assert ran == ["after", "soon"]
    assert [type(e) for e, _ in seen] == [ZeroDivisionError, IndexError]
    assert all(ctx["message"] and callable(ctx["callback"]) for _, ctx in seen)
    assert "handle" in seen[0][1]  # the timer's


def test_default_exception_handler_logs_with_traceback(
    reactor: Reactor, caplog: pytest.LogCaptureFixture
) -> None:
    reactor.call_soon(lambda: 1 / 0)
    with caplog.at_level("ERROR", logger="asyncore_ng"):
        reactor.run_once(0)
    assert any(r.exc_info and r.exc_info[0] is ZeroDivisionError for r in caplog.records)


@pytest.mark.parametrize("exc", [KeyboardInterrupt, SystemExit])
def test_passthrough_exceptions_leave_the_pass(reactor: Reactor, exc: type) -> None:
    def raiser() -> None:
        raise exc()

    reactor.call_soon(raiser)
    with pytest.raises(exc):
        reactor.run_once(0)
    ran: List[int] = []
    reactor.call_soon(ran.append, 1)
    reactor.run_once(0)  # still usable
    assert ran == [1]


def test_cancelled_timers_are_compacted(reactor: Reactor) -> None:
    handles = [reactor.call_later(100 + i, lambda: None) for i in range(4 * COMPACT_MIN)]
    for h in handles[: 3 * COMPACT_MIN]:
        h.cancel()
    assert reactor.pending_timers() == COMPACT_MIN
    assert len(reactor._timers._heap) < 2 * COMPACT_MIN


def test_callbacks_queued_by_callbacks_run_next_pass(reactor: Reactor) -> None:
    ran: List[str] = []
    reactor.call_soon(lambda: (ran.append("first"), reactor.call_soon(ran.append, "second")))
    reactor.run_once(0)
    assert ran == ["first"]
    reactor.run_once(0)
    assert ran == ["first", "second"]


def test_wait_is_cut_short_by_the_next_timer(real_reactor: Reactor) -> None:
    fired = []
    real_reactor.call_later(0.05, fired.append, 1)
    start = time.monotonic()
    while not fired and time.monotonic() - start < 5:
        real_reactor.run_once(30)
    assert fired
    assert time.monotonic() - start < 5


# -- wake-ups and stop --------------------------------------------------------------------


def _wake_from_thread(action: Any, delay: float = 0.2) -> List[float]:
    stamp: List[float] = []

    def worker() -> None:
        time.sleep(delay)  # lets the main thread enter its wait; correctness does not depend on it
        stamp.append(time.monotonic())
        action()

    threading.Thread(target=worker, daemon=True).start()
    return stamp


def test_call_soon_threadsafe_interrupts_a_30_second_wait(real_reactor: Reactor) -> None:
    ran: List[int] = []
    stamp = _wake_from_thread(lambda: real_reactor.call_soon_threadsafe(ran.append, 1))
    deadline = time.monotonic() + 10
    while not ran and time.monotonic() < deadline:
        real_reactor.run_once(30)
    woke = time.monotonic()
    assert ran == [1]
    assert woke - stamp[0] < 0.05


def test_stop_from_another_thread_ends_run(real_reactor: Reactor) -> None:
    stamp = _wake_from_thread(real_reactor.stop)
    real_reactor.run(timeout=30)
    assert time.monotonic() - stamp[0] < 0.05


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs setitimer")
def test_signal_handler_can_wake_the_reactor(real_reactor: Reactor) -> None:
    ran: List[int] = []
    old = signal.signal(signal.SIGALRM, lambda *a: real_reactor.call_soon_threadsafe(ran.append, 1))
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.1)
        start = time.monotonic()
        while not ran and time.monotonic() - start < 10:
            real_reactor.run_once(30)
        assert ran == [1]
        assert time.monotonic() - start < 5
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def test_close_is_idempotent_and_releases_descriptors() -> None:
    before = len(os.listdir("/proc/self/fd"))
    r = Reactor()
    assert len(os.listdir("/proc/self/fd")) == before  # kernel objects are made on first use
    r.run_once(0)
    assert len(os.listdir("/proc/self/fd")) > before
    r.close()
    r.close()
    assert len(os.listdir("/proc/self/fd")) == before


def test_idle_reactor_gives_its_descriptors_back_and_stays_usable() -> None:
    before = len(os.listdir("/proc/self/fd"))
    r = Reactor()
    ran: List[int] = []
    r.call_soon(ran.append, 1)
    r.run_once(0)
    r.release_resources()
    assert len(os.listdir("/proc/self/fd")) == before
    r.call_soon(ran.append, 2)
    r.run_once(0)
    assert ran == [1, 2]
    r.close()
    assert len(os.listdir("/proc/self/fd")) == before


def test_scheduling_on_a_closed_reactor_raises() -> None:
    r = Reactor()
    r.close()
    for call in (
        lambda: r.call_soon(print),
        lambda: r.call_later(1, print),
        lambda: r.call_at(1, print),
        lambda: r.call_every(1, print),
        lambda: r.call_soon_threadsafe(print),
    ):
        with pytest.raises(ReactorClosed, match="closed"):
            call()


# -- watches --------------------------------------------------------------------------------


def test_watch_reports_readiness_and_modify_is_diffed(reactor: Reactor) -> None:
    a, b = socket.socketpair()
    try:
        seen: List[int] = []
        w = reactor.watch(a.fileno(), READ, seen.append)
        reactor.run_once(0)
        assert seen == []
        b.send(b"x")
        reactor.run_once(0)
        assert seen and seen[-1] & READ
        seen.clear()
        w.modify(WRITE)
        reactor.run_once(0)
        assert seen and seen[-1] & WRITE and not seen[-1] & READ
        w.modify(0)
        seen.clear()
        reactor.run_once(0)
        assert seen == []
        w.cancel()
        assert a.fileno() not in reactor.registrations()
    finally:
        a.close()
        b.close()


def test_priority_events_are_reported(reactor: Reactor) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    server, _ = listener.accept()
    try:
        seen: List[int] = []
        reactor.watch(server.fileno(), PRI, seen.append)
        client.send(b"!", socket.MSG_OOB)
        deadline = time.monotonic() + 5
        while not seen and time.monotonic() < deadline:
            reactor.run_once(0.01)
        assert seen and seen[0] & PRI
    finally:
        for s in (listener, client, server):
            s.close()


def test_stale_event_of_a_reused_descriptor_is_dropped(reactor: Reactor) -> None:
    """Two descriptors ready in one pass; the first callback closes the second and puts a new
    file on its number. The new watch must not receive the old file's event."""
    a1, a2 = socket.socketpair()
    b1, b2 = socket.socketpair()
    fresh: List[socket.socket] = []
    new_events: List[int] = []
    calls: List[str] = []

    def make_handler(name: str, other: socket.socket, other_watch: List[Any]) -> Any:
        def handler(bits: int) -> None:
            calls.append(name)
            if fresh:
                return
            number = other.fileno()
            other_watch[0].cancel()
            n1, n2 = socket.socketpair()
            os.dup2(n1.fileno(), number)  # the number now means a new, idle socket
            n1.close()
            fresh.extend([n2])
            reactor.watch(number, READ, new_events.append)
            other.detach()
            fresh.append(socket.socket(fileno=number))

        return handler

    wa: List[Any] = []
    wb: List[Any] = []
    wa.append(reactor.watch(a1.fileno(), READ, make_handler("a", b1, wb)))
    wb.append(reactor.watch(b1.fileno(), READ, make_handler("b", a1, wa)))
    a2.send(b"x")
    b2.send(b"y")
    try:
        reactor.run_once(1)
        assert len(calls) == 1, calls  # the closed one got nothing
        assert new_events == []  # nor did the new file on its number
    finally:
        for s in [a1, a2, b1, b2, *fresh]:
            try:
                s.close()
            except OSError:
                pass


def test_regular_files_are_always_ready(reactor: Reactor, tmp_path: Any) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"data")
    fd = os.open(path, os.O_RDONLY)
    try:
        seen: List[int] = []
        w = reactor.watch(fd, READ, seen.append)
        reactor.run_once(0)
        assert seen == [READ]
        w.cancel()
        reactor.run_once(0)
        assert seen == [READ]
    finally:
        os.close(fd)


@pytest.mark.skipif(sys.platform != "linux", reason="epoll is Linux-only")
def test_descriptor_closed_behind_our_back_does_not_spin(caplog: pytest.LogCaptureFixture) -> None:
    """A watched file closed while a dup keeps it open: epoll would go on reporting it under a
    number nobody owns. The reactor must drop it (rebuilding its epoll set), not spin."""
    r = Reactor(poller="epoll")
    a, b = socket.socketpair()
    keep = os.dup(a.fileno())
    try:
        seen: List[int] = []
        w = r.watch(a.fileno(), READ, seen.append)
        b.send(b"x")
        a.close()  # the number is gone; the file lives on through `keep`
        with caplog.at_level("WARNING", logger="asyncore_ng"):
            w.cancel()
            r.run_once(0)
            r.run_once(0)
        assert seen == []
        assert r.registrations() == {}
    finally:
        os.close(keep)
        b.close()
        r.close()
