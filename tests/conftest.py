"""Shared test setup: our modules installed as asyncore/asynchat, helpers that wait on
conditions (never on sleeps), a fixture running a test over every poller backend, and leak
checks."""

from __future__ import annotations

import gc
import os
import sys
import threading
import time
from typing import Any, Callable, Dict, Iterator, Optional

import pytest

import asyncore_ng
from asyncore_ng import loop as channels
from asyncore_ng.reactor import available_backends

asyncore_ng.install()  # before any test imports asyncore or asynchat

#: The event-loop backends (asyncore_ng.aio) that the behaviour suite also runs on.
LOOP_BACKENDS = ["asyncio", "uvloop"]

try:
    import uvloop
except ImportError as exc:
    UVLOOP_MISSING: Optional[str] = f"uvloop is not installed here ({exc}): the uvloop backend is not tested"
else:
    UVLOOP_MISSING = None
    # libuv opens a process-wide pipe (for its signal handling) with the first event loop and
    # never closes it: open it now, before any test counts descriptors.
    uvloop.new_event_loop().close()

sys.path.insert(0, os.path.dirname(__file__))


def run_until(
    condition: Callable[[], Any],
    timeout: float = 10.0,
    map: Optional[Dict[Any, Any]] = None,
    use_poll: bool = False,
    pass_timeout: float = 0.05,
) -> None:
    """Run loop passes until ``condition()`` is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    m = channels.socket_map if map is None else map
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s: {condition!r}")
        if m:
            channels.loop(timeout=pass_timeout, use_poll=use_poll, map=m, count=1)
        else:
            time.sleep(0.001)  # nothing to run: only another thread can make it true


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else -1


#: ``ASYNCORE_NG_TEST_BACKENDS=epoll,asyncio``: the backends the ``backend`` fixture runs here
#: (default: all). CI narrows 3.9, 3.10 and 3.12 to the default poller and asyncio: the poll
#: and select pollers are the same code on every Python, and run on 3.8, 3.11 and 3.13-3.15.
_BACKENDS_HERE = [b for b in os.environ.get("ASYNCORE_NG_TEST_BACKENDS", "").split(",") if b]


def skip_if_unavailable(name: str) -> None:
    """Skip (saying why) on a backend this interpreter cannot run, or this run does not test."""
    if name == "uvloop" and UVLOOP_MISSING is not None:
        pytest.skip(UVLOOP_MISSING)
    if _BACKENDS_HERE and name not in _BACKENDS_HERE:
        pytest.skip(
            f"the {name} backend is not tested in this run (ASYNCORE_NG_TEST_BACKENDS="
            f"{','.join(_BACKENDS_HERE)}; CI tests it on 3.8, 3.11 and 3.13-3.15)"
        )


@pytest.fixture(params=available_backends() + LOOP_BACKENDS)
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """Runs the test once per poller backend and once per event-loop backend (asyncio,
    uvloop: asyncore_ng.aio); the default map's reactor is rebuilt."""
    skip_if_unavailable(request.param)
    channels.close_all(ignore_all=True)
    channels.unbind(channels.socket_map)  # the next use makes a reactor on the backend asked for
    channels.sweep()  # (nor may a dropped map's reactor serve the next one)
    old = os.environ.get("ASYNCORE_NG_BACKEND")
    os.environ["ASYNCORE_NG_BACKEND"] = request.param
    try:
        yield request.param
    finally:
        if old is None:
            del os.environ["ASYNCORE_NG_BACKEND"]
        else:
            os.environ["ASYNCORE_NG_BACKEND"] = old
        channels.close_all(ignore_all=True)
        channels.unbind(channels.socket_map)
        channels.sweep()


@pytest.fixture(params=[False, True], ids=["select-semantics", "poll-semantics"])
def use_poll(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.fixture
def no_fd_leak() -> Iterator[None]:
    """Fails the test if it leaves descriptors open (the default map's reactor released)."""
    channels.unbind(channels.socket_map)
    before = open_fds()
    yield
    channels.close_all(ignore_all=True)
    channels.unbind(channels.socket_map)
    after = open_fds()
    assert after <= before, f"descriptors leaked: {before} before, {after} after"


@pytest.fixture(autouse=True)
def no_leaked_threads_or_descriptors(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test: no thread left running and no descriptor left open once the default map is
    closed and its reactor released (tests that own a private map close it themselves)."""
    threads_before = set(threading.enumerate())
    fds_before = open_fds()
    yield
    channels.close_all(ignore_all=True)
    channels.unbind(channels.socket_map)
    deadline = time.monotonic() + 5
    while True:
        stray = [t for t in threading.enumerate() if t not in threads_before and t.is_alive()]
        if not stray or time.monotonic() > deadline:
            break
        stray[0].join(0.1)
    assert not stray, f"threads left running: {stray}"
    gc.collect()
    leaked = open_fds() - fds_before
    assert leaked <= 0, f"{leaked} descriptor(s) left open"
