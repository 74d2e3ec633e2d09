"""The reactor: descriptors and their interest, timers, callbacks, wake-ups, one pass at a time.

It knows nothing of sockets' meaning nor of ``handle_*`` names: a *watch* ties a descriptor and
an interest mask (poll(2) bits) to a callback that receives the reported bits. The loop layer
(``asyncore_ng.loop``) builds asyncore's semantics on top.

Descriptors, epoll, dup and fork
--------------------------------
A descriptor *number* names an *open file* (a socket, a pipe). poll(2) and select(2) look the
number up on every call, so a closed number is reported (POLLNVAL, EBADF) and a reused number
simply means the new file. epoll is different, and the differences decide the design:

* An epoll registration belongs to the pair (number, open file). When the last descriptor of
  the file closes, the kernel drops the registration silently: no event will ever come. So a
  socket closed behind the loop's back, left in the map, would make ``loop()`` wait for ever.
  (The loop layer audits for that, once a second.)
* If the file is still open elsewhere (a ``dup``, ``socket.detach`` into another object, a
  forked child), closing the number does *not* drop the registration. It goes on reporting the
  file's readiness under the old number, and ``epoll_ctl(DEL)`` cannot remove it any more: that
  needs a descriptor of the file. If the number is then reused by a new socket that we watch,
  both registrations report under the same number, and the new channel receives the old file's
  events. Only a fresh epoll instance is free of it.
* After ``fork()`` parent and child share the *same* epoll instance: a child that unregisters
  what it inherited (closing its copy of a channel) deafens the parent.
* ``epoll_wait`` timeouts are whole milliseconds in an int: about 24.8 days at most.

Decisions
---------
* Events are collected for the whole pass before any is dispatched, keyed by the watch that was
  registered when the kernel reported them; a callback that closes a channel cancels its watch,
  so its remaining events are skipped even if the number is reused within the pass.
* Cancelling unregisters at once, before the caller closes the descriptor, so in the normal
  path no registration outlives its number.
* A number that turns out to be closed before it could be unregistered (``EBADF``: the program
  closed its socket itself) is not an error: with poll and select nothing is left behind, and
  with epoll nothing is left either unless the file lives on elsewhere. On Linux we ask the
  kernel (``/proc/self/fdinfo`` of the epoll instance lists its registrations): only if one is
  still held under that number is the poller rebuilt (a fresh kernel object, every live watch
  registered again). Where the kernel cannot be asked, the rebuild happens when the number is
  next reused, before the new file is registered. Either way quietly: it is the program's right
  to close its own socket first.
* Events for a number no watch owns, and a reused number whose old watch was never cancelled
  (closed behind our back), also trigger the check-and-rebuild, so stale events never reach a
  channel.
* Each reactor records the fork generation it was built in (``os.register_at_fork`` bumps a
  counter in the child). A reactor used in a child first drops its inherited kernel objects
  (closing only the child's copies) and builds new ones lazily, registering its live watches
  again; timers and queued callbacks carry over. The parent's registrations are never touched.
* Kernel objects (the poller and the wake-up socket pair) are created lazily and can be
  released when the reactor is idle (:meth:`release_resources`), so a map that ends empty holds
  no descriptor of ours; they come back on next use.
* Registration changes take a lock: another thread may cancel a watch (closing a channel) while
  the loop thread changes its interest; without the lock the loop could ``modify`` a number that
  the other thread has just closed and the kernel has just reused.
* Waits are clamped to a day (asyncio does the same) so a 30-day timer or ``loop(timeout=3e6)``
  never overflows the kernel's argument; the pass simply recomputes.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections import deque
from contextlib import contextmanager
from typing import Any, Callable, Deque, Dict, Iterator, List, Optional, Set, Tuple

from .. import waiters
from ..exceptions import PASSTHROUGH
from .poller import (
    ERR,
    HUP,
    NVAL,
    READ,
    WRITE,
    NotPollable,
    Poller,
    available_backends,
    environment_backend,
    make_poller,
)
from .timers import TimerHandle, TimerQueue
from .waker import Waker

logger = logging.getLogger("asyncore_ng")

WatchCallback = Callable[[int], None]
ExceptionContext = Dict[str, Any]
ExceptionHandler = Callable[["Reactor", ExceptionContext], None]

#: The longest single wait handed to the kernel, in seconds.
MAX_WAIT = 24 * 3600.0

#: :attr:`Reactor.running_thread` while another event loop waits for the reactor (see
#: :meth:`Reactor.hand_over`): no thread's ident, so every :meth:`Reactor.notify` wakes it.
FOREIGN_WAIT = -1

#: Bumped in a child process after ``fork()``; reactors compare it with the value they saw.
_fork_generation = 0


#: Every reactor alive, so that a forked child can mark them at once (see _after_fork_in_child).
_live_reactors: weakref.WeakSet[Reactor] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # A pass only tests ``_poller is None`` before using the poller: each reactor's poller is
    # set aside now (closed when the kernel objects are next built, see _drop_kernel). No lock
    # is taken here: another thread of the parent may have held one at the fork.
    global _fork_generation
    _fork_generation += 1
    for reactor in list(_live_reactors):
        if reactor._poller is not None:
            reactor._inherited, reactor._poller = reactor._poller, None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def file_identity(fd: int) -> Optional[Tuple[int, int]]:
    """What the descriptor number ``fd`` names now, as ``(device, inode)``; None if closed."""
    try:
        st = os.fstat(fd)
    except (OSError, ValueError, OverflowError):
        return None
    return st.st_dev, st.st_ino


class _LoopThreads:
    """Which threads run reactor passes, for a cheap "am I the loop's thread?" on hot paths.

    ``sole`` is the ident of the one thread that runs (or last ran) passes of every live
    reactor that ever ran, or None when there are several such threads (or none): a caller
    on the sole thread knows without asking its reactor that no other thread runs it. A
    reactor counts for the thread it last ran in until it is closed or collected.
    """

    def __init__(self) -> None:
        self.sole: Optional[int] = None
        self._counts: Dict[int, int] = {}
        self._lock = threading.Lock()
        # Reactors collected meanwhile: their threads are uncounted by the next moved(). (A
        # finalizer may run inside moved() itself, when an allocation there starts the cyclic
        # collector: taking the lock from it would deadlock, so it only appends.)
        self._gone: Deque[int] = deque()

    def moved(self, old: Optional[int], new: Optional[int]) -> None:
        with self._lock:
            counts = self._counts
            gone = self._gone
            while gone:
                self._uncount(gone.popleft())
            if old is not None:
                self._uncount(old)
            if new is not None:
                counts[new] = counts.get(new, 0) + 1
            self.sole = next(iter(counts)) if len(counts) == 1 else None

    def _uncount(self, ident: int) -> None:
        counts = self._counts
        left = counts.get(ident, 0) - 1
        if left > 0:
            counts[ident] = left
        else:
            counts.pop(ident, None)

    def collected(self, ident: int) -> None:
        """A reactor that last ran in thread ``ident`` was collected (from its finalizer)."""
        self._gone.append(ident)


#: See _LoopThreads (``loop_threads.sole`` is read by the channels' send paths).
loop_threads = _LoopThreads()


class ReactorClosed(RuntimeError):
    """Raised when something is scheduled on, or watched by, a closed reactor."""


class ConcurrentPassError(RuntimeError):
    """Raised when a thread starts passes of a reactor (``loop()``, ``poll()`` over its map)
    while another thread is running passes of it: one map is served by one thread at a time."""


def _cancelled(_bits: int) -> None:
    """The callback of a cancelled watch (it lets go of the one it was given)."""


class Watch:
    """A descriptor watched for ``events``; ``callback(reported_bits)`` runs when ready.

    Create with :meth:`Reactor.watch`. ``modify``, ``cancel`` and ``ready_again`` may be called
    from any thread. ``propagate_errors``: an exception from the callback leaves the pass (and
    ``loop()``) instead of going to the reactor's exception handler; asyncore's channels need
    that (an exception raised by ``handle_error`` leaves ``loop()`` in the stdlib).
    """

    __slots__ = (
        "_latent",
        "_reactor",
        "_registered",
        "active",
        "born",
        "callback",
        "events",
        "fd",
        "identity",
        "propagate_errors",
    )

    def __init__(self, reactor: Reactor, fd: int, callback: WatchCallback, propagate_errors: bool) -> None:
        self._reactor = reactor
        self.fd = fd
        #: What the number named when the watch was made (device, inode), or None if closed.
        self.identity = file_identity(fd)
        self.callback = callback
        self.events = 0
        self.active = True
        self.propagate_errors = propagate_errors
        self._registered = False  # whether the kernel holds a registration for it
        self._latent = 0  # "ready again" bits held while the interest excludes them
        #: The pass it was made in (its number's events of that pass are not its own).
        self.born = reactor._passes

    def modify(self, events: int) -> None:
        """Change the interest. A no-op (no system call) when it did not change."""
        if events != self.events and self.active:
            self._reactor._set_interest(self, events)

    def cancel(self) -> None:
        """Stop watching: unregister now, and drop any event already collected for it."""
        if self.active:
            self._reactor._forget(self)

    def ready_again(self, bits: int = READ) -> None:
        """Report ``bits`` to the callback on the next pass without a kernel event (data already
        buffered in user space: decrypted TLS records, a read-ahead buffer). The next wait does
        not block. Bits outside the current interest are held until the interest includes them.
        """
        if self.active:
            self._reactor._add_ready_again(self, bits)

    def clear_ready_again(self) -> None:
        """Withdraw a report requested by :meth:`ready_again` (the buffered data was used)."""
        if self.active:
            self._reactor._clear_ready_again(self)

    def __repr__(self) -> str:
        state = "" if self.active else " cancelled"
        return f"<Watch fd={self.fd} events={self.events:#x}{state}>"


class Reactor:
    """One event loop: a poller, timers, a queue of callbacks and a wake-up channel.

    Thread-safe: :meth:`call_soon_threadsafe`, :meth:`wakeup`, :meth:`stop`, :meth:`notify` and
    the ``Watch`` methods. Everything else belongs to the thread running the reactor (or to any
    thread while none runs it).

    ``clock`` is any monotonic ``() -> float`` in seconds (inject a fake one in tests);
    ``poller`` a backend name (``"epoll"``, ``"poll"``, ``"select"``) or a ``Poller`` instance.
    ``waiter`` (see :mod:`asyncore_ng.waiters`) does the waiting of each pass instead of
    ``poller.poll``: another event loop runs meanwhile. With neither ``poller`` nor ``waiter``
    given, ``ASYNCORE_NG_BACKEND`` decides, and may name an event-loop backend (``asyncio``,
    ``uvloop``).
    """

    def __init__(
        self,
        poller: Optional[Any] = None,
        clock: Callable[[], float] = time.monotonic,
        waiter: Optional[Any] = None,
    ) -> None:
        self._given_poller: Optional[Poller] = poller if isinstance(poller, Poller) else None
        loop_backend: Optional[str] = None
        if self._given_poller is not None:
            self._backend_name: str = self._given_poller.name
        elif poller is None and waiter is not None:
            self._backend_name = available_backends()[0]
        else:
            # A name, or None for the environment: may be an event-loop backend.
            self._backend_name, loop_backend = environment_backend(poller)
        if waiter is None and loop_backend is not None:
            waiter = waiters.make(loop_backend)
        self._waiter: Optional[Any] = waiter
        self.clock = clock
        self._poller: Optional[Poller] = None  # the kernel objects: created on first need
        self._inherited: Optional[Poller] = None  # a forked child's copy of the parent's
        self._waker: Optional[Waker] = None
        self._waker_watch: Optional[Watch] = None
        self._fork_gen = _fork_generation
        self._lock = threading.Lock()  # registration changes (see the module notes)
        self._timers = TimerQueue()
        self._ready: Deque[Tuple[Callable[..., Any], Tuple[Any, ...]]] = deque()
        self._ready_again: Dict[Watch, int] = {}
        self._watches: Dict[int, Watch] = {}
        self._always_ready: Dict[int, Watch] = {}  # descriptors the backend cannot poll
        self._unclean: Set[int] = set()  # numbers closed before unregistering, kernel unsure
        self._forgotten: Set[int] = set()  # numbers unregistered since the current wait began
        #: The ident of the thread running passes now (between enter() and leave()), or None.
        #: Read-only for everyone else.
        self.running_thread: Optional[int] = None
        #: The last thread that ran passes, weakly: the reactor outlives it and must not keep
        #: its object alive (test suites wait for finished threads' objects to go).
        self._loop_thread: Optional[weakref.ReferenceType[threading.Thread]] = None
        #: Its ident (read on hot paths: a thread that is not the loop's hands work over).
        self.loop_thread: Optional[int] = None
        #: A stop was requested and not yet consumed (:meth:`consume_stop`). Read-only for
        #: everyone but the reactor (the loop layer reads it after each pass).
        self.stop_requested = False
        self._closed = False
        self._exception_handler: Optional[ExceptionHandler] = None
        self._debug = os.environ.get("ASYNCORE_NG_DEBUG", "") not in ("", "0")
        #: In debug mode, a handler, timer or callback that runs longer than this many seconds
        #: is reported as a warning on the ``asyncore_ng`` logger.
        self.slow_callback_duration = 0.1
        #: The clock when the current pass's wait ended (activity stamps, idle timeouts).
        self.pass_time = self._first_pass_time = clock()
        self._passes = 0
        self._events = 0
        self._synthetic_events = 0
        self._timers_run = 0
        self._callbacks_run = 0
        self._drains = 0
        self._wait_time = 0.0  # (the time running is the rest: see statistics())
        self._rebuilds = 0
        #: Whether the next pass must look at more than its timers and events: callbacks
        #: queued, "ready again" reports, always-ready descriptors, numbers unregistered
        #: (``_forgotten``), debug mode. Set by whoever adds those (then, from another thread,
        #: the wake-up follows); a pass clears it before looking, so nothing set meanwhile is
        #: missed. It spares a pass with nothing of that kind five tests.
        self._attention = self._debug
        _live_reactors.add(self)

    def __del__(self) -> None:
        # Dropped without close(): give the descriptors back quietly. (No lock may be taken
        # here: a finalizer runs wherever the collector happens to start.)
        try:
            if not self._closed:
                self._drop_kernel()
                if self.loop_thread is not None:
                    loop_threads.collected(self.loop_thread)
        except Exception:
            pass

    def _loop_thread_object(self) -> Optional[threading.Thread]:
        """The last thread that ran passes, while its object lives (it is held weakly)."""
        ref = self._loop_thread
        return ref() if ref is not None else None

    def _forget_loop_thread(self) -> None:
        if self.loop_thread is not None:
            loop_threads.moved(self.loop_thread, None)
            self.loop_thread = None
            self._loop_thread = None

    # -- kernel objects --------------------------------------------------------------------

    @property
    def backend(self) -> str:
        """The poller's name: ``"epoll"``, ``"poll"`` or ``"select"``."""
        return self._backend_name

    @property
    def waiter(self) -> Optional[Any]:
        """What does the waiting of each pass instead of the poller (another event loop, see
        :mod:`asyncore_ng.waiters`), or ``None``."""
        return self._waiter

    @property
    def poller(self) -> Poller:
        """The kernel poller (built now if it was not; for diagnostics and tests)."""
        with self._lock:
            return self._kernel()

    def _kernel(self) -> Poller:
        """The poller, after building the kernel objects if they are missing (first use, after
        :meth:`release_resources`, or in a forked child). Call with the lock held."""
        if self._fork_gen != _fork_generation:
            self._drop_kernel()
        poller = self._poller
        if poller is None:
            if self._closed:
                raise ReactorClosed("the reactor is closed")
            if self._given_poller is not None:
                poller, self._given_poller = self._given_poller, None
            else:
                poller = make_poller(self._backend_name)
            self._poller = poller
            self._waker = Waker()
            # (The waker's own method, not one of ours: a watch of ours would make a reference
            # cycle, and a reactor dropped with its map must be freed by reference counting.)
            waker_watch = Watch(self, self._waker.fileno(), self._waker.drain, False)
            self._watches[waker_watch.fd] = waker_watch
            self._waker_watch = waker_watch
            waker_watch.events = READ
            for w in self._watches.values():
                if w.events:
                    self._register(poller, w)
        return poller

    def _drop_kernel(self) -> None:
        # Close this process's kernel objects (in a forked child: only the child's copies, the
        # parent's registrations are untouched; see the module notes). Watches keep their
        # interest and are registered again when the objects are next built.
        self._fork_gen = _fork_generation
        if self._poller is not None:
            self._poller.close()
            self._poller = None
        if self._inherited is not None:
            self._inherited.close()
            self._inherited = None
        if self._waiter is not None:
            self._waiter.release()
        self._forget_waker()
        for w in self._watches.values():
            w._registered = False
        self._unclean.clear()

    def _forget_waker(self) -> None:
        if self._waker_watch is not None:
            self._watches.pop(self._waker_watch.fd, None)
            self._waker_watch.active = False
            self._waker_watch = None
        if self._waker is not None:
            self._drains += self._waker.drains
            self._waker.close()
            self._waker = None

    def release_resources(self) -> None:
        """Close the kernel objects while nothing needs them (no pass is running); watches keep
        their interest and are registered again on next use. The loop layer calls it when a map
        ends empty, so no descriptor of ours stays open for a leak checker to flag."""
        with self._lock:
            if self.running_thread is None and self._poller is not None:
                self._drop_kernel()

    def _register(self, poller: Poller, w: Watch) -> None:
        try:
            poller.register(w.fd, w.events)
            w._registered = True
        except NotPollable:
            # Regular files are always ready for poll(2) and select(2); say so every pass.
            self._always_ready[w.fd] = w
            self._attention = True
            w._registered = False

    # -- descriptors -------------------------------------------------------------------

    def watch(
        self, fd: int, events: int, callback: WatchCallback, *, propagate_errors: bool = False
    ) -> Watch:
        """Watch ``fd`` for ``events`` (READ, WRITE, PRI bits; 0 = known but idle).

        A previous watch of the same number is cancelled: the number now means a new file (the
        old one was closed behind our back, so its registration is checked for staleness).
        """
        if self._closed:
            raise ReactorClosed("the reactor is closed")
        with self._lock:
            old = self._watches.get(fd)
            if old is not None:
                old.active = False
                old.callback = _cancelled
                self._unregister_locked(old, reused=True)
            elif fd in self._unclean:
                self._unclean.discard(fd)
                if self._poller is not None:
                    self._rebuild_locked("a closed number is reused")
            w = Watch(self, fd, callback, propagate_errors)
            self._watches[fd] = w
            if events:
                self._set_interest_locked(w, events)
        self.notify()
        return w

    def _set_interest(self, w: Watch, events: int) -> None:
        with self._lock:
            if w.active:
                self._set_interest_locked(w, events)
        self.notify()

    def _set_interest_locked(self, w: Watch, events: int) -> None:
        latent = w._latent & events
        if latent:
            w._latent &= ~latent
            self._ready_again[w] = self._ready_again.get(w, 0) | latent
            self._attention = True
        fd = w.fd
        if fd in self._always_ready:
            w.events = events
            if not events:
                del self._always_ready[fd]
            return
        w.events = events
        if self._poller is None and self._fork_gen == _fork_generation:
            return  # dormant: registered when the kernel objects are built
        poller = self._kernel()
        if not events:
            if w._registered:
                w._registered = False
                self._unregister_fd(poller, fd)
        elif w._registered:
            poller.modify(fd, events)
        else:
            self._register(poller, w)

    def _forget(self, w: Watch) -> None:
        with self._lock:
            if not w.active:
                return
            w.active = False
            w.callback = _cancelled  # what it reached (a channel's registration) may go now
            if self._watches.get(w.fd) is w:
                del self._watches[w.fd]
                self._forgotten.add(w.fd)
                self._attention = True
                self._unregister_locked(w, reused=False)
            else:
                self._ready_again.pop(w, None)
        self.notify()

    def _unregister_locked(self, w: Watch, reused: bool) -> None:
        fd = w.fd
        self._always_ready.pop(fd, None)
        self._ready_again.pop(w, None)
        registered, w._registered = w._registered, False
        poller = self._poller
        if poller is None or self._fork_gen != _fork_generation or not (registered or reused):
            return
        if not poller.registrations_outlive_numbers:
            self._unregister_fd(poller, fd)  # registrations are by number: nothing can be stale
        elif not reused and file_identity(fd) == w.identity:
            self._unregister_fd(poller, fd)  # the usual case: the number still names our file
        else:
            # The number was closed behind our back (and perhaps reused by another file, not
            # registered yet): unregistering by number would miss our file or hit another. A
            # registration of our file still held under the number can only be stale.
            inode = w.identity[1] if w.identity is not None else None
            if poller.holds_registration(fd, inode) is not False:
                self._rebuild_locked(f"descriptor {fd} was closed while its file stays open elsewhere")

    def _unregister_fd(self, poller: Poller, fd: int) -> None:
        try:
            poller.unregister(fd)
        except OSError:
            # The number was closed first (see the module notes): a registration outlives it only
            # if the file is open elsewhere. Ask the kernel; rebuild only if one is left.
            if poller.registrations_outlive_numbers:
                held = poller.holds_registration(fd)
                if held:
                    self._rebuild_locked(f"descriptor {fd} was closed while its file stays open")
                elif held is None:
                    self._unclean.add(fd)

    def _rebuild_locked(self, why: str) -> None:
        logger.debug("rebuilding the %s poller: %s", self._backend_name, why)
        self._rebuilds += 1
        old = self._poller
        assert old is not None
        self._poller = make_poller(self._backend_name)
        old.close()
        self._unclean.clear()
        for w in list(self._watches.values()):
            if w._registered:
                try:
                    self._poller.register(w.fd, w.events)
                except OSError as exc:
                    logger.warning("descriptor %d cannot be watched again: %s", w.fd, exc)
                    w._registered = False

    def notify(self) -> None:
        """Something the next pass must see has changed (a watch, a map, a queue): if a pass runs
        in another thread, wake its wait. Cheap when called from the reactor's own thread."""
        running = self.running_thread
        if running is not None and running != threading.get_ident():
            waker = self._waker
            if waker is not None:
                waker.wake()

    # -- callbacks and timers ----------------------------------------------------------

    def time(self) -> float:
        """The reactor's clock, in seconds."""
        return self.clock()

    def _check_open(self) -> None:
        if self._closed:
            raise ReactorClosed("the reactor is closed; nothing can be scheduled on it")

    def call_soon(self, callback: Callable[..., Any], *args: Any) -> None:
        """Run ``callback(*args)`` at the end of the current (or next) pass."""
        self._check_open()
        self._ready.append((callback, args))
        self._attention = True
        if self.running_thread == FOREIGN_WAIT:
            self.wakeup()  # from the other loop's code, between passes (see hand_over)

    def call_soon_threadsafe(self, callback: Callable[..., Any], *args: Any) -> None:
        """Like :meth:`call_soon`, from any thread or a signal handler: wakes the reactor."""
        self._check_open()
        self._ready.append((callback, args))
        self._attention = True
        self.wakeup()

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> TimerHandle:
        """Run ``callback(*args)`` once, ``delay`` seconds from now."""
        self._check_open()
        return self._schedule(self.clock() + max(0.0, delay), callback, args)

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any) -> TimerHandle:
        """Run ``callback(*args)`` once, when the reactor's clock reaches ``when``."""
        self._check_open()
        return self._schedule(when, callback, args)

    def call_every(self, interval: float, callback: Callable[..., Any], *args: Any) -> TimerHandle:
        """Run ``callback(*args)`` every ``interval`` seconds (first run one interval from now)
        until the handle is cancelled. A run that raises does not end the repetition."""
        self._check_open()
        if interval <= 0:
            raise ValueError(f"call_every needs a positive interval, got {interval!r}")
        return self._schedule(self.clock() + interval, callback, args, interval)

    def _schedule(
        self,
        when: float,
        callback: Callable[..., Any],
        args: Tuple[Any, ...],
        interval: Optional[float] = None,
    ) -> TimerHandle:
        if self.running_thread == FOREIGN_WAIT:
            self.wakeup()  # the other loop's wait must learn of the new deadline (see hand_over)
        return self._timers.push(when, callback, args, interval)

    def pending_timers(self) -> int:
        """Timers scheduled and not cancelled."""
        return len(self._timers)

    def has_pending_work(self) -> bool:
        """Whether a timer or a queued callback is still to run."""
        if not (self._ready or self._timers.entries):
            return False  # (the usual answer, without counting live timers)
        return bool(self._ready) or len(self._timers) > 0

    def wakeup(self) -> None:
        """Cut the current wait short. Thread-safe and signal-safe."""
        waker = self._waker
        if waker is not None and self._fork_gen == _fork_generation:
            waker.wake()

    def _add_ready_again(self, w: Watch, bits: int) -> None:
        with self._lock:
            if w.active:
                self._ready_again[w] = self._ready_again.get(w, 0) | bits
                self._attention = True
        self.notify()

    def _clear_ready_again(self, w: Watch) -> None:
        if w in self._ready_again or w._latent:
            with self._lock:
                self._ready_again.pop(w, None)
                w._latent = 0

    # -- errors ------------------------------------------------------------------------

    def set_exception_handler(self, handler: Optional[ExceptionHandler]) -> None:
        """Route errors from callbacks, timers and watches to ``handler(reactor, context)``
        (``None`` restores the default, which logs). ``context`` is a dict as asyncio's:
        ``message``, ``exception``, and where known ``callback``, ``handle``, ``watch``,
        ``channel``."""
        self._exception_handler = handler

    def get_exception_handler(self) -> Optional[ExceptionHandler]:
        return self._exception_handler

    def default_exception_handler(self, context: ExceptionContext) -> None:
        """Log ``context`` with its traceback to the ``asyncore_ng`` logger."""
        details = "".join(
            f"\n{key}: {value!r}" for key, value in context.items() if key not in ("message", "exception")
        )
        logger.error(
            "%s%s", context.get("message", "unhandled exception"), details, exc_info=context.get("exception")
        )

    def call_exception_handler(self, context: ExceptionContext) -> None:
        """Hand ``context`` to the exception handler (an error in the handler itself is logged)."""
        handler = self._exception_handler
        if handler is None:
            self.default_exception_handler(context)
            return
        try:
            handler(self, context)
        except PASSTHROUGH:
            raise
        except Exception as exc:
            self.default_exception_handler(
                {"message": "error in the reactor's exception handler", "exception": exc, "context": context}
            )

    def _guarded(
        self, what: str, callback: Callable[..., Any], args: Tuple[Any, ...], **context: Any
    ) -> None:
        """The reactor's error boundary: ``ExitNow``, ``KeyboardInterrupt`` and ``SystemExit``
        propagate; anything else goes to the exception handler and the pass goes on."""
        started = self.clock() if self._debug else 0.0
        try:
            callback(*args)
        except PASSTHROUGH:
            raise
        except Exception as exc:
            self.call_exception_handler(
                {
                    "message": f"exception in {what} {callback!r}",
                    "exception": exc,
                    "callback": callback,
                    **context,
                }
            )
        if self._debug:
            self.report_if_slow(started, f"{what} {callback!r}")

    # -- debug and statistics ------------------------------------------------------------

    def set_debug(self, enabled: bool) -> None:
        """Debug mode (also ``ASYNCORE_NG_DEBUG=1``): every handler, timer and callback is
        timed, and one that runs longer than :attr:`slow_callback_duration` is reported."""
        self._debug = bool(enabled)
        self._attention = True

    def get_debug(self) -> bool:
        return self._debug

    def report_if_slow(self, started: float, culprit: str) -> None:
        """Warn if more than :attr:`slow_callback_duration` passed since ``started`` (debug)."""
        took = self.clock() - started
        if took >= self.slow_callback_duration:
            logger.warning("%s took %.3f seconds: it blocked the loop", culprit, took)

    def statistics(self) -> Dict[str, Any]:
        """Counters since the reactor was made: ``passes``, ``events`` (kernel readiness reports
        dispatched), ``ready_again`` (reports without a kernel event), ``timers_run``,
        ``callbacks_run``, ``wakeups`` (wake-up signals received), ``wake_requests``, the number
        of ``watches``, ``timers`` and ``callbacks`` pending now, seconds spent ``waiting`` in the
        kernel and ``running`` (between waits), ``rebuilds`` of the kernel poller, ``backend``."""
        waker = self._waker
        return {
            "backend": self._backend_name,
            "passes": self._passes,
            "events": self._events,
            "ready_again": self._synthetic_events,
            "timers_run": self._timers_run,
            "callbacks_run": self._callbacks_run,
            "wakeups": self._drains + (waker.drains if waker is not None else 0),
            "wake_requests": waker.wakes if waker is not None else 0,
            "watches": len(self._watches) - (self._waker_watch is not None),
            "timers": len(self._timers),
            "callbacks": len(self._ready),
            "waiting": self._wait_time,
            # (Every pass adds its wait to _wait_time and moves pass_time to the wait's end: what
            # is not waiting, since the first pass, is the rest.)
            "running": max(0.0, self.pass_time - self._first_pass_time - self._wait_time),
            "rebuilds": self._rebuilds,
        }

    # -- the pass ----------------------------------------------------------------------

    def enter(self) -> Optional[int]:
        """Mark the calling thread as the one running passes (for a whole ``loop()``): changes
        made by other threads meanwhile wake it (see :meth:`notify`). Builds the kernel objects
        first, so that a wake-up has somewhere to go. Returns what :meth:`leave` restores
        (passes nest: a handler may call ``loop()``)."""
        ident = threading.get_ident()
        with self._lock:
            if self._fork_gen != _fork_generation or self._poller is None:
                self._kernel()
            outer = self.running_thread
            if outer is not None and self._busy_elsewhere(outer, ident):
                owner = self._loop_thread_object()
                raise ConcurrentPassError(
                    f"thread {threading.current_thread().name!r} started loop passes over a map that "
                    f"thread {owner.name if owner is not None else '?'!r} is serving now (its loop() or "
                    "poll() is running): one map is served by one thread at a time; give each thread "
                    "its own map, or hand work to the serving thread (call_soon_threadsafe)"
                )
            self.running_thread = ident
            thread = threading.current_thread()
            # (Not by ident: a new thread may reuse a dead one's. _loop_thread_object() written
            # out: this runs once per poll() call, and a program may make one per event.)
            ref = self._loop_thread
            if ref is None or ref() is not thread:
                self._loop_thread = weakref.ref(thread)
                loop_threads.moved(self.loop_thread, ident)
                self.loop_thread = ident
        return outer

    def owned_by_another_thread(self) -> bool:
        """Whether passes run (now, or between the ``poll()`` calls of a ``while: poll()``
        loop) in a thread other than the caller's, still alive: work that touches what the
        loop's thread touches must then be handed to it (:meth:`call_soon_threadsafe`)."""
        owner = self._loop_thread_object()
        return owner is not None and self.loop_thread != threading.get_ident() and owner.is_alive()

    def leave(self, outer: Optional[int]) -> None:
        """Undo :meth:`enter` (or :meth:`hand_over`)."""
        self.running_thread = outer

    def hand_over(self) -> Optional[int]:
        """Mark the reactor as waited for by another event loop of the calling thread
        (``asyncore_ng.aio``): that loop polls the poller's descriptor and runs passes that do
        not wait. Until :meth:`leave`, every :meth:`notify`, from this thread too, wakes the
        wait (a change made by that loop's own code must reach the kernel registrations before
        the loop next waits); passes still :meth:`enter` as usual. Returns what :meth:`leave`
        restores."""
        outer = self.enter()  # (the checks and records of entering; then the foreign wait)
        with self._lock:
            self.running_thread = FOREIGN_WAIT
        return outer

    def _busy_elsewhere(self, running: int, ident: int) -> bool:
        # Passes are running (``running`` is set) in a thread other than ``ident``'s: the
        # thread that runs them, or the thread whose event loop waits for us (FOREIGN_WAIT).
        # A thread that died (or was not copied into this forked child) serves nothing.
        owner = self.loop_thread if running == FOREIGN_WAIT else running
        if owner == ident:
            return False
        thread = self._loop_thread_object()
        return thread is not None and thread.is_alive()

    def next_wait(self, timeout: Optional[float] = None) -> Optional[float]:
        """How long the next pass would wait, at most ``timeout`` seconds (``None``: no
        bound): 0 with work queued, else until the next timer: the rule of a pass's first step
        (which also clamps it to :data:`MAX_WAIT`). For another event loop that waits for the
        reactor."""
        if self._ready or self._ready_again or self._always_ready:
            return 0.0
        deadline = self._timers.next_deadline() if self._timers.entries else None
        if deadline is not None:
            until = max(0.0, deadline - self.clock())
            if timeout is None or until < timeout:
                return until
        return timeout

    @contextmanager
    def running(self) -> Iterator[None]:
        """:meth:`enter` and :meth:`leave` as a context manager."""
        outer = self.enter()
        try:
            yield
        finally:
            self.leave(outer)

    def run_once(self, timeout: Optional[float] = None) -> None:
        """One pass: wait up to ``timeout`` seconds (``None``: until something happens), then
        dispatch I/O, fire due timers, and run the callbacks queued before the timers ran."""
        if timeout is not None and timeout > MAX_WAIT:
            timeout = MAX_WAIT
        if self.running_thread == threading.get_ident():
            self.run_pass(timeout)
            return
        outer = self.enter()
        try:
            self.run_pass(timeout)
        finally:
            self.leave(outer)

    def run_pass(self, timeout: Optional[float]) -> None:
        """One pass, for a caller that has :meth:`enter`-ed (``loop()``: it costs no more than
        the pass itself). See :meth:`run_once`. ``timeout`` is at most :data:`MAX_WAIT`."""
        poller = self._poller
        if poller is None:  # (first use, released, or a forked child: _after_fork_in_child)
            with self._lock:
                poller = self._kernel()
        # 1. Compute the wait: none with work queued, else cut short by the next timer, clamped.
        # (next_wait's rule, written out: calling it costs 3% of a pass with one event.)
        timers = self._timers.entries  # (the heap itself: tested without a call)
        wait = timeout
        special = self._attention
        if special:
            self._attention = False  # (before looking: whatever is added from now on sets it)
            if self._forgotten:
                with self._lock:
                    self._forgotten.clear()
            if self._always_ready or self._debug:
                self._attention = True  # (they last)
            if self._ready or self._ready_again or self._always_ready:
                wait = 0.0
        if timers and wait != 0.0:
            deadline = self._timers.next_deadline()
            if deadline is not None:
                until = min(max(0.0, deadline - self.clock()), MAX_WAIT)
                if wait is None or until < wait:
                    wait = until
        # 2. Wait. Each event goes to the watch that owns its number now, unless that watch was
        # made during this pass (born == this pass): a number closed and reused within the pass
        # never gets the old file's events. Watches cancelled meanwhile are no longer owners.
        started = self.clock()
        waiter = self._waiter
        events = poller.poll(wait) if waiter is None else waiter.wait(poller, wait)
        self.pass_time = now = self.clock()
        self._wait_time += now - started
        passes = self._passes = self._passes + 1
        # 3. Dispatch I/O, each callback inside the error boundary (inlined here: this is the
        # hottest loop of the library; _guarded is the same boundary for timers).
        if special and (self._ready_again or self._always_ready or self._debug):
            self._dispatch_collected(self._collect(events))
        elif events:
            self._events += len(events)
            watches = self._watches
            unowned: Optional[List[Tuple[int, int]]] = None
            for fd, bits in events:
                w = watches.get(fd)
                if w is None or w.born == passes:
                    if unowned is None:
                        unowned = []
                    unowned.append((fd, bits))
                    continue
                try:
                    w.callback(bits)
                except BaseException as exc:
                    if self._leaves_pass(w, exc):
                        raise
            if unowned is not None:
                self._dispatch_collected(self._claim_unowned(unowned, []))
        # 4. and 5. (Callbacks queued before the pass set ``special``; by its handlers,
        # _attention again.)
        if timers or special or self._attention:
            self.run_due()

    def _dispatch_collected(self, ready: List[Tuple[Watch, int]]) -> None:
        # Step 3 with "ready again" reports (collected first: see _collect), or in debug mode,
        # where a callback that blocked the loop is reported.
        debug = self._debug
        pending = iter(ready)  # what is left when an exception leaves the pass
        for w, bits in pending:
            if not w.active:
                continue
            started = self.clock() if debug else 0.0
            try:
                w.callback(bits)
            except BaseException as exc:
                if self._leaves_pass(w, exc):
                    self._requeue_synthetic(list(pending))
                    raise
            if debug and not w.propagate_errors:
                # (A channel's own callback times its handlers and names them: see loop.)
                self.report_if_slow(started, f"watch callback {w.callback!r}")

    def run_due(self) -> None:
        """Fire the timers that are due and run the callbacks queued so far (the end of a
        pass, without waiting or polling)."""
        # 4. Fire due timers.
        timers = self._timers
        if timers.entries:
            now = self.clock()
            due = timers.pop_due(now)
            for i, handle in enumerate(due):
                call = timers.fire(handle, now)
                if call is None:
                    continue
                try:
                    self._guarded("timer", call[0], call[1], handle=handle)
                except BaseException:
                    timers.requeue(due[i + 1 :])  # Ctrl-C in a timer: the rest stay scheduled
                    raise
                self._timers_run += 1
        # 5. Run the callbacks queued so far (not those they queue: next pass).
        ready_calls = self._ready
        if ready_calls:
            for _ in range(len(ready_calls)):
                callback, args = ready_calls.popleft()
                self._guarded("callback", callback, args)
                self._callbacks_run += 1

    def _collect(self, events: List[Tuple[int, int]]) -> List[Tuple[Watch, int]]:
        """Pair each reported event with its watch; add the "ready again" reports."""
        watches = self._watches
        passes = self._passes
        ready: List[Tuple[Watch, int]] = []
        unowned: List[Tuple[int, int]] = []
        for fd, bits in events:
            w = watches.get(fd)
            if w is None or w.born == passes:
                unowned.append((fd, bits))
            else:
                ready.append((w, bits))
        if unowned:
            self._claim_unowned(unowned, ready)
        self._events += len(events)
        if self._ready_again or self._always_ready:
            with self._lock:
                synthetic, self._ready_again = self._ready_again, {}
            for w in self._always_ready.values():
                synthetic[w] = synthetic.get(w, 0) | (w.events & (READ | WRITE))
            if synthetic:
                merged = dict(ready)
                for w, bits in synthetic.items():
                    wanted = bits & (w.events | ERR | HUP)
                    w._latent |= bits & ~wanted
                    if wanted:
                        merged[w] = merged.get(w, 0) | wanted
                        self._synthetic_events += 1
                ready = list(merged.items())
        return ready

    def _claim_unowned(
        self, unowned: List[Tuple[int, int]], ready: List[Tuple[Watch, int]]
    ) -> List[Tuple[Watch, int]]:
        """Events for numbers no watch owned (when dispatched): add those a watch now owns to
        ``ready``; the others are stale unless their watch was cancelled since the wait began.
        Looked at under the lock: another thread's cancel (unregister, then note the number as
        forgotten) is then wholly before or after."""
        stale = []
        passes = self._passes
        with self._lock:
            for fd, bits in unowned:
                w = self._watches.get(fd)
                if w is not None and w.born != passes:
                    ready.append((w, bits))
                elif w is None and not bits & NVAL and fd not in self._forgotten:
                    stale.append(fd)
        if stale:
            self._drop_stale(stale)
        return ready

    def _leaves_pass(self, w: Watch, exc: BaseException) -> bool:
        """A callback of step 3 raised: whether ``exc`` leaves the pass (Ctrl-C, ``ExitNow``,
        ``SystemExit``, anything not an ``Exception``, and every exception of a watch with
        ``propagate_errors``). Otherwise it goes to the exception handler and the pass goes on."""
        if isinstance(exc, PASSTHROUGH) or not isinstance(exc, Exception) or w.propagate_errors:
            return True
        self._watch_failed(w, exc)
        return False

    def _watch_failed(self, w: Watch, exc: Exception) -> None:
        self.call_exception_handler(
            {"message": f"exception in watch callback {w.callback!r}", "exception": exc, "watch": w}
        )

    def _requeue_synthetic(self, rest: List[Tuple[Watch, int]]) -> None:
        # An exception leaves the pass: "ready again" reports not yet delivered must not be lost
        # (kernel events are level-triggered and come back by themselves). Re-queue them all.
        for w, bits in rest:
            if w.active and w.fd not in self._always_ready:
                self._ready_again[w] = self._ready_again.get(w, 0) | bits
                self._attention = True

    def _drop_stale(self, fds: List[int]) -> None:
        # The kernel reported numbers no watch owns: registrations that outlived their number
        # (the file is open elsewhere). They cannot be removed by number: start afresh.
        with self._lock:
            if self._poller is not None:
                self._rebuild_locked(f"events for descriptors no watch owns: {sorted(set(fds))}")

    def run(self, timeout: Optional[float] = None) -> None:
        """Run passes until :meth:`stop`. ``timeout`` bounds each wait."""
        if timeout is not None and timeout > MAX_WAIT:
            timeout = MAX_WAIT
        with self.running():
            while True:
                self.run_pass(timeout)
                if self.consume_stop():
                    return

    def stop(self) -> None:
        """Make the running :meth:`run` (or asyncore's ``loop()``) return after its current pass.
        Thread-safe. If none is running, the next one returns after its first pass (a stop is
        never lost, and never sticks: a pass consumes it)."""
        self.stop_requested = True
        self.wakeup()

    def consume_stop(self) -> bool:
        """Whether a stop was requested; clears the request (the loop layer calls it after each
        pass)."""
        if self.stop_requested:
            self.stop_requested = False
            return True
        return False

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Release the kernel objects; cancel timers, queued callbacks and watches (their
        descriptors are not closed). Idempotent. Scheduling on a closed reactor raises
        :class:`ReactorClosed`."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for w in self._watches.values():
                w.active = False
                w.callback = _cancelled
            self._watches.clear()
            self._always_ready.clear()
            self._ready_again.clear()
            self._drop_kernel()
            self._given_poller = None
            self._forget_loop_thread()
        if self._waiter is not None:
            self._waiter.close()
        self._timers.clear()
        self._ready.clear()

    def registrations(self) -> Dict[int, int]:
        """``{fd: events}`` for every watch other than the reactor's own wake-up (for tests
        and diagnostics)."""
        return {fd: w.events for fd, w in self._watches.items() if w is not self._waker_watch}


__all__ = [
    "FOREIGN_WAIT",
    "MAX_WAIT",
    "READ",
    "WRITE",
    "ConcurrentPassError",
    "Reactor",
    "ReactorClosed",
    "TimerHandle",
    "Watch",
    "file_identity",
    "loop_threads",
]
