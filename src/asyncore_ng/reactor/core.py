"""The reactor: descriptors and their interest, timers, callbacks, wake-ups, one pass at a time.

It knows nothing of sockets' meaning nor of ``handle_*`` names: a *watch* ties a descriptor and
an interest mask (poll(2) bits) to a callback that receives the reported bits. The channel layer
(``asyncore_ng.channels``) builds asyncore's semantics on top.

Descriptor reuse. Events are collected for the whole pass before any is dispatched, and each
is keyed by the watch object that was registered when the kernel reported it. A callback that
closes a channel cancels its watch, so the rest of the pass skips the stale events even if the
descriptor number has meanwhile been reused by a new watch. Cancelling unregisters from the
kernel at once, before the caller closes the descriptor: with epoll, a registration outlives the
number when the file is still open elsewhere (a dup), and would report events for a file we no
longer own.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

from ..exceptions import PASSTHROUGH
from .poller import NVAL, READ, WRITE, NotPollable, Poller, make_poller
from .timers import TimerHandle, TimerQueue
from .waker import Waker

logger = logging.getLogger("asyncore_ng")

WatchCallback = Callable[[int], None]
ExceptionHandler = Callable[[BaseException, str], None]


class Watch:
    """A descriptor watched for ``events``; ``callback(reported_bits)`` runs when ready.

    Create with :meth:`Reactor.watch`. ``modify`` and ``cancel`` may be called from any thread.
    """

    __slots__ = ("_reactor", "_registered", "active", "callback", "events", "fd")

    def __init__(self, reactor: Reactor, fd: int, callback: WatchCallback) -> None:
        self._reactor = reactor
        self.fd = fd
        self.callback = callback
        self.events = 0
        self.active = True
        self._registered = False  # whether the kernel holds a registration for it

    def modify(self, events: int) -> None:
        """Change the interest. A no-op (no system call) when it did not change."""
        if events != self.events and self.active:
            self._reactor._set_interest(self, events)

    def cancel(self) -> None:
        """Stop watching: unregister now, and drop any event already collected for it."""
        if self.active:
            self.active = False
            self._reactor._forget(self)

    def __repr__(self) -> str:
        state = "" if self.active else " cancelled"
        return f"<Watch fd={self.fd} events={self.events:#x}{state}>"


class Reactor:
    """One event loop: a poller, timers, a queue of callbacks and a wake-up channel.

    Everything except :meth:`call_soon_threadsafe`, :meth:`wakeup`, :meth:`stop` and the
    ``Watch`` methods must be called from the thread running the reactor (or before it runs).

    ``clock`` is any monotonic ``() -> float`` in seconds (inject a fake one in tests);
    ``poller`` a backend name (``"epoll"``, ``"poll"``, ``"select"``) or instance.
    """

    def __init__(
        self,
        poller: Optional[Any] = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._poller: Poller = poller if isinstance(poller, Poller) else make_poller(poller)
        self.clock = clock
        self._timers = TimerQueue()
        self._ready: Deque[Tuple[Callable[..., Any], Tuple[Any, ...]]] = deque()
        self._watches: Dict[int, Watch] = {}
        self._always_ready: Dict[int, Watch] = {}  # descriptors the backend cannot poll
        self._thread: Optional[int] = None  # ident of the thread inside run_once
        #: The clock when the current pass's wait ended (activity stamps, idle timeouts).
        self.pass_time = clock()
        self._stopping = False
        self.closed = False
        self.exception_handler: ExceptionHandler = _log_exception
        self._waker = Waker()
        self._waker_watch = self.watch(self._waker.fileno(), READ, self._on_wakeup)

    # -- descriptors -------------------------------------------------------------------

    @property
    def backend(self) -> str:
        """The poller's name: ``"epoll"``, ``"poll"`` or ``"select"``."""
        return self._poller.name

    def watch(self, fd: int, events: int, callback: WatchCallback) -> Watch:
        """Watch ``fd`` for ``events`` (READ, WRITE, PRI bits; 0 = registered but idle).

        A previous watch of the same number is cancelled: the number now means a new file.
        """
        old = self._watches.get(fd)
        if old is not None:
            old.cancel()
        w = Watch(self, fd, callback)
        self._watches[fd] = w
        if events:
            self._set_interest(w, events)
        return w

    def _set_interest(self, w: Watch, events: int) -> None:
        poller = self._poller
        fd = w.fd
        if fd in self._always_ready:
            w.events = events
            if not events:
                del self._always_ready[fd]
            return
        try:
            if not events:
                registered, w._registered, w.events = w._registered, False, 0
                if registered:
                    self._unregister(fd)
            elif w._registered:
                poller.modify(fd, events)
            else:
                poller.register(fd, events)
                w._registered = True
        except NotPollable:
            # Regular files are always ready for poll(2) and select(2); say so every pass.
            self._always_ready[fd] = w
            w._registered = False
        w.events = events
        self._maybe_wake()

    def _forget(self, w: Watch) -> None:
        if self._watches.get(w.fd) is w:
            del self._watches[w.fd]
            if self._always_ready.get(w.fd) is w:
                del self._always_ready[w.fd]
            if w._registered:
                self._unregister(w.fd)
        w._registered = False
        self._maybe_wake()

    def _unregister(self, fd: int) -> None:
        try:
            self._poller.unregister(fd)
        except OSError:
            # Closed behind our back (EBADF): a registration may outlive the number, so start
            # from a fresh kernel object rather than risk events for a file we do not own.
            logger.warning("descriptor %d was closed before it was unregistered", fd)
            self._rebuild_poller()

    def _maybe_wake(self) -> None:
        # A change made from another thread must reach a wait in progress (for example, the
        # last channel closed from a test's main thread must let loop() return now).
        if self._thread is not None and self._thread != threading.get_ident():
            self._waker.wake()

    # -- callbacks and timers ----------------------------------------------------------

    def time(self) -> float:
        """The reactor's clock, in seconds."""
        return self.clock()

    def call_soon(self, callback: Callable[..., Any], *args: Any) -> None:
        """Run ``callback(*args)`` at the end of the current (or next) pass."""
        self._ready.append((callback, args))

    def call_soon_threadsafe(self, callback: Callable[..., Any], *args: Any) -> None:
        """Like :meth:`call_soon`, from any thread or a signal handler: wakes the reactor."""
        self._ready.append((callback, args))
        self._waker.wake()

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> TimerHandle:
        """Run ``callback(*args)`` once, ``delay`` seconds from now."""
        return self._timers.push(self.clock() + max(0.0, delay), callback, args)

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any) -> TimerHandle:
        """Run ``callback(*args)`` once, when the reactor's clock reaches ``when``."""
        return self._timers.push(when, callback, args)

    def call_every(self, interval: float, callback: Callable[..., Any], *args: Any) -> TimerHandle:
        """Run ``callback(*args)`` every ``interval`` seconds (first run one interval from now)
        until the handle is cancelled. A run that raises does not end the repetition."""
        if interval <= 0:
            raise ValueError(f"call_every needs a positive interval, got {interval!r}")
        return self._timers.push(self.clock() + interval, callback, args, interval)

    def pending_timers(self) -> int:
        """Timers scheduled and not cancelled."""
        return len(self._timers)

    def has_pending_work(self) -> bool:
        """Whether a timer or a queued callback is still to run."""
        return bool(self._ready) or len(self._timers) > 0

    def wakeup(self) -> None:
        """Cut the current wait short. Thread-safe and signal-safe."""
        self._waker.wake()

    def _on_wakeup(self, _bits: int) -> None:
        self._waker.drain()

    # -- the pass ----------------------------------------------------------------------

    def run_once(self, timeout: Optional[float] = None) -> None:
        """One pass: wait up to ``timeout`` seconds (``None``: until something happens), then
        dispatch I/O, fire due timers, and run the callbacks queued before the timers ran."""
        outer, self._thread = self._thread, threading.get_ident()  # nested passes happen
        try:
            # 1. Compute the wait: none with work queued, else cut short by the next timer.
            timers = self._timers
            if self._ready or self._always_ready:
                wait: Optional[float] = 0.0
            else:
                wait = timeout
                if timers._heap:
                    deadline = timers.next_deadline()
                    if deadline is not None:
                        until = max(0.0, deadline - self.clock())
                        if wait is None or until < wait:
                            wait = until
            # 2. Select. Collect every event before dispatching any (see the module notes).
            events = self._poller.poll(wait)
            self.pass_time = self.clock()
            if events or self._always_ready:
                watches = self._watches
                ready: List[Tuple[Optional[Watch], int, int]] = [
                    (watches.get(fd), bits, fd) for fd, bits in events
                ]
                if self._always_ready:
                    ready.extend((w, w.events & (READ | WRITE), w.fd) for w in self._always_ready.values())
                # 3. Dispatch I/O. The callbacks own their error boundary (asyncore's handle_error).
                for w, bits, fd in ready:
                    if w is None:
                        if not bits & NVAL:
                            self._drop_unknown(fd)
                    elif w.active:
                        w.callback(bits)
            # 4. Fire due timers.
            if timers._heap:
                now = self.clock()
                due = timers.pop_due(now)
                for i, handle in enumerate(due):
                    try:
                        self._guarded(timers.run, handle, now)
                    except BaseException:
                        timers.requeue(due[i + 1 :])  # Ctrl-C in a timer: the rest stay scheduled
                        raise
            # 5. Run the callbacks queued so far (not those they queue: next pass).
            if self._ready:
                for _ in range(len(self._ready)):
                    callback, args = self._ready.popleft()
                    self._guarded(callback, *args)
        finally:
            self._thread = outer

    def _drop_unknown(self, fd: int) -> None:
        # The kernel reported a descriptor no watch owns: an epoll registration that outlived
        # its number (the file still open elsewhere). Unregistering may fail with EBADF if the
        # number is closed; then the only cure is a fresh epoll object, rebuilt from the watches.
        logger.warning("event for unwatched descriptor %d: dropping its registration", fd)
        self._unregister(fd)

    def _rebuild_poller(self) -> None:
        old = self._poller
        self._poller = make_poller(old.name)
        old.close()
        for w in list(self._watches.values()):
            if w._registered:
                try:
                    self._poller.register(w.fd, w.events)
                except OSError as exc:
                    logger.warning("descriptor %d cannot be watched again: %s", w.fd, exc)
                    w._registered = False

    def _guarded(self, callback: Callable[..., Any], *args: Any) -> None:
        """The error boundary for reactor callbacks: pass-through exceptions propagate, anything
        else goes to ``exception_handler`` and the loop goes on."""
        try:
            callback(*args)
        except PASSTHROUGH:
            raise
        except Exception as exc:
            self.exception_handler(exc, f"in callback {callback!r}")

    def run(self, timeout: Optional[float] = None) -> None:
        """Run passes until :meth:`stop`. ``timeout`` bounds each wait."""
        self._stopping = False
        try:
            while not self._stopping:
                self.run_once(timeout)
        finally:
            self._stopping = False

    def stop(self) -> None:
        """Make :meth:`run` (or asyncore's ``loop()``) return after the current pass.
        Thread-safe."""
        self._stopping = True
        self._waker.wake()

    @property
    def stopping(self) -> bool:
        return self._stopping

    def clear_stop(self) -> None:
        self._stopping = False

    def close(self) -> None:
        """Release the poller and the wake-up pipe; cancel timers and queued callbacks.
        Idempotent. Watches still registered are dropped (their descriptors are not closed)."""
        if self.closed:
            return
        self.closed = True
        for w in list(self._watches.values()):
            w.active = False
        self._watches.clear()
        self._always_ready.clear()
        self._timers.clear()
        self._ready.clear()
        self._poller.close()
        self._waker.close()

    def registrations(self) -> Dict[int, int]:
        """``{fd: events}`` for every watch other than the reactor's own wake-up (for tests
        and diagnostics)."""
        return {fd: w.events for fd, w in self._watches.items() if w is not self._waker_watch}


def _log_exception(exc: BaseException, context: str) -> None:
    logger.error("unhandled exception %s", context, exc_info=exc)


__all__ = ["READ", "WRITE", "Reactor", "TimerHandle", "Watch"]
