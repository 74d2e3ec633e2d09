"""asyncore on asyncio (or uvloop): old and new code on one event loop, in one thread.

Three ways in:

* ``await serve(map)`` serves a map (default: ``socket_map``) on the running asyncio loop and
  returns when the map is empty, when the map's reactor is stopped, or when cancelled; an
  exception that would leave ``asyncore.loop()`` (``ExitNow``, one raised by ``handle_error``)
  is raised from it. :func:`attach` / :meth:`Attachment.detach` do the same for a long-lived
  application (an attachment outlives an empty map).
* ``ASYNCORE_NG_BACKEND=asyncio`` (or ``uvloop``) makes every reactor made from then on wait
  through an event loop of that kind (:class:`LoopWaiter`): ``asyncore.loop()`` runs its
  passes on it, a new one per reactor, so unchanged programs (and CPython's own test suites)
  run on asyncio. A ``loop()`` without ``count`` is one run of the event loop with the passes
  in its callbacks, as under :func:`serve` (entering an event loop costs: uvloop makes and
  closes a socket pair for its signal handling every time); ``loop(count=N)``, ``poll()`` and
  the stdlib paths for a replaced ``select`` run pass by pass, each pass's wait running the
  event loop until the poller's descriptor is readable or the wait is over.
* From a channel's handler, :func:`start` runs a coroutine on the loop that serves the channel
  and hands its result back to the channel (its exception to ``handle_error``); from asyncio
  code, :func:`adopt` gives a connected socket to a dispatcher and :func:`release_socket`
  takes it back.

The mechanism: nesting, not one asyncio reader per channel
----------------------------------------------------------
The reactor's poller is an epoll instance, and an epoll instance is itself pollable: it polls
readable while any descriptor registered in it has an event. So the asyncio loop watches that
one descriptor (``add_reader``); when it is readable, or when the reactor's next timer is
due, or when work is queued, a pass runs that polls the epoll instance with a zero timeout
and dispatches exactly as our own loop does. The alternative, one asyncio reader and writer
per channel, cannot give asyncore's semantics: asyncio's selectors never ask for priority
events (out-of-band data, ``handle_expt``) and fold hang-ups and errors into "readable and
writable", which poll semantics (``readwrite()``) need raw. It was also measured slower (the
README's design section has the callgrind figures; the prototype is
``benchmarks/aio_mechanisms.py``): per event asyncio makes a handle and a callback per
channel, and every interest change is a selector ``modify`` through asyncio's bookkeeping,
while nesting costs one extra ``epoll_wait`` per pass, shared by every event of the pass.

Decisions
---------
* Passes are the same passes (``MapBinding.run_passes``, with a zero wait), so the predicate
  rules, select and poll semantics, the audit and the error boundaries are those of
  ``loop()``. After each pass the interest is brought in step again before control returns
  to asyncio (the loop waits next, and must wait for the right events).
* While attached, the reactor is *handed over* (``Reactor.hand_over``): every change made by
  asyncio code between passes, in this thread too (a new dispatcher, a ``send``, a
  ``call_later``), writes to the reactor's wake-up socket, which is registered in the epoll
  instance, so the loop runs a pass before it next sleeps. During a pass, changes cost
  nothing, as usual.
* The reactor's clock becomes the asyncio loop's ``time()``: a dispatcher's ``call_later``
  and the loop's ``call_later`` count the same seconds.
* ``loop()`` called inside a handler of an attached map (or from a coroutine, with
  ``ASYNCORE_NG_BACKEND=asyncio``) cannot run the asyncio loop again (it is running): its
  passes wait in the kernel directly, and the asyncio loop resumes when it returns, as after
  any blocking call.
* An event loop without ``add_reader`` (Windows' proactor loop) is refused with a message
  saying so, and so is a poller with no descriptor to nest (poll and select: the bridge needs
  epoll, i.e. Linux).
"""

from __future__ import annotations

import asyncio
import math
import socket
import sys
import threading
import weakref
from asyncio import _get_running_loop  # public in spirit: "for event loops" (asyncio.events)
from typing import Any, Awaitable, Callable, Dict, Literal, Optional, Tuple, TypeVar, overload

from . import loop as _channels
from .loop import MapBinding, bind, guarded_call, release
from .reactor import Reactor, available_backends
from .reactor.poller import Events, Poller

T = TypeVar("T")
MapType = Dict[Any, Any]

#: The event-loop backends this module provides (``ASYNCORE_NG_BACKEND`` values).
KINDS = ("asyncio", "uvloop")


class BridgeUnavailable(RuntimeError):
    """The asyncio bridge cannot run here: the message says why and what is available."""


def _available_text() -> str:
    kinds = ["asyncio"]
    try:
        import uvloop  # noqa: F401
    except ImportError:
        kinds.append("uvloop (not installed: pip install 'asyncore-ng[uvloop]')")
    else:
        kinds.append("uvloop")
    return ", ".join(available_backends() + kinds)


def _check_loop(loop: asyncio.AbstractEventLoop) -> None:
    proactor = getattr(asyncio, "ProactorEventLoop", None)
    if proactor is not None and isinstance(loop, proactor):
        raise BridgeUnavailable(
            "asyncore-ng cannot run on Windows' proactor event loop: it has no add_reader(). "
            "Use asyncio.SelectorEventLoop instead (on 3.12+: "
            "asyncio.run(main(), loop_factory=asyncio.SelectorEventLoop); policies are deprecated from 3.14)"
        )


def _nestable_fd(poller: Poller) -> int:
    fd = poller.fileno()
    if fd is None:
        raise BridgeUnavailable(
            f"the {poller.name} poller has no descriptor that an asyncio loop can wait on: the "
            f"asyncio bridge needs epoll (Linux); available here: {_available_text()}"
        )
    return fd


def _add_reader(loop: asyncio.AbstractEventLoop, fd: int, callback: Callable[[], Any]) -> None:
    try:
        loop.add_reader(fd, callback)
    except NotImplementedError:
        raise BridgeUnavailable(
            f"{type(loop).__name__} has no add_reader(): asyncore-ng cannot run on it "
            "(Windows' proactor loop is one such; use a selector event loop)"
        ) from None


def _remove_reader(loop: asyncio.AbstractEventLoop, fd: int) -> None:
    if loop.is_closed():
        return
    try:
        loop.remove_reader(fd)
    except (OSError, ValueError):
        pass  # the descriptor is gone already (a rebuilt or released poller)


def _running_loop() -> Optional[asyncio.AbstractEventLoop]:
    return _get_running_loop()


def _shim() -> Any:
    """The ``asyncore`` shim if it is loaded and ours (its ``socket_map`` and hooks), else None."""
    shim = sys.modules.get("asyncore")
    return shim if getattr(shim, "__asyncore_ng__", False) is True else None


def _default_map() -> MapType:
    shim = _shim()
    return shim.socket_map if shim is not None else _channels.socket_map


# -- ASYNCORE_NG_BACKEND=asyncio / uvloop ----------------------------------------------------------


def new_event_loop(kind: str) -> asyncio.AbstractEventLoop:
    """A new event loop of ``kind``: ``"asyncio"`` (the stdlib's selector loop) or
    ``"uvloop"``. :class:`BridgeUnavailable` if uvloop is not installed."""
    if kind == "asyncio":
        loop: asyncio.AbstractEventLoop = asyncio.SelectorEventLoop()
    elif kind == "uvloop":
        try:
            import uvloop
        except ImportError:
            raise BridgeUnavailable(
                "ASYNCORE_NG_BACKEND=uvloop, but uvloop is not installed (pip install "
                f"'asyncore-ng[uvloop]'); available: {_available_text()}"
            ) from None
        loop = uvloop.new_event_loop()
    else:
        raise ValueError(f"unknown event-loop kind {kind!r}; have {', '.join(KINDS)}")
    _check_loop(loop)
    return loop


class LoopWaiter:
    """Waits for a reactor through an asyncio event loop of its own (``ASYNCORE_NG_BACKEND``).

    Each pass's wait runs the event loop until the poller's descriptor is readable, the wait's
    timeout (the reactor's next timer included) ends, or, for a zero wait, for one turn without
    blocking; then the poller is polled with a zero timeout for the raw events. Coroutines
    started on the loop (:func:`start`, or :meth:`event_loop` ``.create_task``) run during the
    waits. The loop is created on first use and closed when the reactor releases its
    descriptors (a map that ended empty) unless tasks are still pending on it.
    """

    def __init__(self, kind: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown event-loop kind {kind!r}; have {', '.join(KINDS)}")
        if kind == "uvloop":
            new_event_loop(kind).close()  # a missing uvloop is an error now, when the map is bound
        if available_backends()[0] != "epoll":
            raise BridgeUnavailable(
                f"ASYNCORE_NG_BACKEND={kind} needs the epoll poller (Linux); "
                f"available here: {', '.join(available_backends())}"
            )
        self.kind = kind
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._fd = -1
        self._lock = threading.Lock()
        # One timer ends the waits (see wait()): when the current wait is over, and when the
        # armed timer fires; it is moved only earlier, never re-armed for every pass.
        self._deadline = math.inf
        self._timer: Optional[asyncio.TimerHandle] = None
        self._timer_when = math.inf
        self._finalizer: Optional[weakref.finalize[Any, Any]] = None

    def __repr__(self) -> str:
        return f"<LoopWaiter {self.kind} {self._loop!r}>"

    def event_loop(self) -> asyncio.AbstractEventLoop:
        """The event loop (created now if there is none)."""
        loop = self._loop
        if loop is None:
            with self._lock:
                loop = self._loop
                if loop is None:
                    loop = self._loop = new_event_loop(self.kind)
                    # Closed when this waiter is collected, or at exit, whichever is first:
                    # see _close_dropped_loop.
                    self._finalizer = weakref.finalize(self, _close_dropped_loop, loop)
        return loop

    def wait(self, poller: Poller, timeout: Optional[float]) -> Events:
        if _running_loop() is not None:
            # loop() inside a running asyncio loop (a handler of an attached map, or a
            # coroutine): that loop cannot be run again from here; wait in the kernel.
            return poller.poll(timeout)
        loop = self._loop or self.event_loop()
        fd = poller.fileno()
        if fd != self._fd:
            if self._fd >= 0:
                _remove_reader(loop, self._fd)
            self._fd = -1
            _add_reader(loop, _nestable_fd(poller), loop.stop)
            self._fd = fd if fd is not None else -1
        if timeout is not None and timeout <= 0.0:
            loop.stop()  # one turn: the loop polls with a zero timeout, runs what is ready
            loop.run_forever()
            return poller.poll(0.0)
        if timeout is None:
            self._deadline = math.inf
        else:
            # Whole milliseconds, rounded up (uvloop's timers have that resolution): a wait
            # that ends before the reactor's timer is due would only make a pass that finds
            # nothing to do.
            self._deadline = deadline = loop.time() + math.ceil(timeout * 1000.0) / 1000.0
            if deadline < self._timer_when:
                self._arm(loop, deadline)
        loop.run_forever()
        return poller.poll(0.0)

    def _arm(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_when = when
        self._timer = loop.call_at(when, self._on_timer, loop)

    def _on_timer(self, loop: asyncio.AbstractEventLoop) -> None:
        # Armed for an earlier wait, or for this one: stop only when this wait is over (within
        # the millisecond the deadline was rounded to), else wait on for this one's deadline.
        self._timer = None
        self._timer_when = math.inf
        if loop.time() + 0.001 >= self._deadline:
            loop.stop()
        elif self._deadline < math.inf:
            self._arm(loop, self._deadline)

    def drive(
        self, binding: MapBinding, timeout: Optional[float], poll_semantics: bool, hooks: Any
    ) -> Optional[bool]:
        """Run a whole ``loop()`` (until the map is empty or a stop; True for a stop) as one
        run of the event loop, with the passes in its callbacks (an :class:`Attachment`):
        entering the event loop once per pass is what costs (uvloop makes and closes a socket
        pair for its signal handling every time). ``None`` when it cannot (an event loop is
        running in this thread, or the reactor runs passes already): then pass by pass."""
        if _running_loop() is not None or binding.reactor.running_thread is not None:
            return None
        loop = self.event_loop()
        if self._fd >= 0:
            _remove_reader(loop, self._fd)  # the attachment watches the poller itself
            self._fd = -1
        attachment = Attachment(binding.map, loop, poll_semantics, timeout, until_empty=True, hooks=hooks)
        try:
            loop.run_until_complete(attachment.finished)
        finally:
            attachment.detach()
            if not binding.map:
                self.release()  # (the reactor released its descriptors while this loop ran)
        return attachment.stopped

    def _close_loop(self, only_if_idle: bool) -> None:
        loop = self._loop
        if loop is None or loop.is_running():
            return
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        if pending and only_if_idle:
            return  # coroutines still run on it: it stays (with its descriptors)
        self._loop = None
        if self._fd >= 0:
            _remove_reader(loop, self._fd)
            self._fd = -1
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_when = self._deadline = math.inf
        if pending:
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None

    def release(self) -> None:
        """Close the event loop unless coroutines are pending on it (the reactor is idle)."""
        self._close_loop(only_if_idle=True)

    def close(self) -> None:
        """Close the event loop, cancelling what is pending on it."""
        self._close_loop(only_if_idle=False)


def _close_dropped_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Close the event loop of a waiter that was dropped (its map and reactor with it) or that
    is still open at exit. A reactor and its map binding refer to each other, so they, the
    waiter, the event loop and its sockets are collected together, by the cycle collector, which
    finalizes them in no particular order: the event loop's own finalizer could then find its
    wake-up socket closed already (Python 3.8-3.10 print "Exception ignored in
    BaseEventLoop.__del__"). A ``weakref.finalize`` runs before any of them is finalized, and
    at exit before the interpreter tears down the modules."""
    if not loop.is_closed() and not loop.is_running():
        try:
            loop.close()
        except Exception:  # while collecting or at exit: nothing more useful to do
            pass


def make_waiter(kind: str) -> LoopWaiter:
    """The factory ``asyncore_ng`` registers in ``asyncore_ng.waiters`` for each kind."""
    return LoopWaiter(kind)


# -- serving a map on a running loop -----------------------------------------------------------------

_attachments: weakref.WeakKeyDictionary[Reactor, Attachment] = weakref.WeakKeyDictionary()


class Attachment:
    """A map served by an asyncio loop; made by :func:`attach`.

    ``finished`` is a future of that loop: done when the attachment ends (:meth:`detach`, a
    stop of the map's reactor, and for :func:`serve` an empty map), with the exception that
    ended it if one did (what would leave ``asyncore.loop()``: ``ExitNow``, an exception raised
    by ``handle_error``).
    """

    def __init__(
        self,
        map: MapType,
        loop: asyncio.AbstractEventLoop,
        use_poll: bool,
        timeout: Optional[float],
        until_empty: bool,
        hooks: Any = None,
    ) -> None:
        _check_loop(loop)
        if timeout is not None and not timeout >= 0:
            raise ValueError(f"timeout must be None or non-negative, got {timeout!r}")
        self.map = map
        self.loop = loop
        self.use_poll = bool(use_poll)
        self.timeout = timeout
        self._until_empty = until_empty
        self._binding: MapBinding = bind(map)
        self._hooks = hooks or _shim() or _channels
        reactor = self.reactor = self._binding.reactor
        if reactor.running_thread is not None:
            raise RuntimeError(f"{reactor!r} is already being run (by loop() or another attachment)")
        self._fd = -1
        self._watch_poller()
        self._outer = reactor.hand_over()
        self._old_clock = reactor.clock
        reactor.clock = loop.time
        self.finished: asyncio.Future[None] = loop.create_future()
        self.closed = False
        #: Whether a stop request of the reactor ended it.
        self.stopped = False
        self._soon: Optional[asyncio.Handle] = None
        self._timer: Optional[asyncio.TimerHandle] = None
        self._timer_when = math.inf
        _attachments[reactor] = self
        self._run_soon()  # a first pass: interest in step, anything due runs

    def __repr__(self) -> str:
        state = " detached" if self.closed else ""
        return f"<Attachment of a map of {len(self.map)} to {self.loop!r}{state}>"

    # -- what wakes it ---------------------------------------------------------------------

    def _watch_poller(self) -> None:
        """Have the loop call :meth:`_on_readable` when the poller has events: its descriptor
        is one reader of the loop (the mechanism; see the module notes)."""
        self._fd = _nestable_fd(self.reactor.poller)
        _add_reader(self.loop, self._fd, self._on_readable)

    def _unwatch_poller(self) -> None:
        _remove_reader(self.loop, self._fd)

    def _poller_rebuilt(self) -> bool:
        """Whether the reactor replaced its poller (stale registrations: see the reactor)."""
        return self.reactor.poller.fileno() != self._fd

    def _on_readable(self) -> None:
        self._activate()

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_when = math.inf
        self._activate()

    def _on_soon(self) -> None:
        self._soon = None
        self._activate()

    def _run_soon(self) -> None:
        if self._soon is None:
            self._soon = self.loop.call_soon(self._on_soon)

    def _arm(self, when: float) -> None:
        # One timer, moved only earlier: a timer that fires before it is needed makes a pass
        # that finds nothing due, and arms again (cheaper than re-arming after every pass).
        if when < self._timer_when:
            if self._timer is not None:
                self._timer.cancel()
            self._timer_when = when
            self._timer = self.loop.call_at(when, self._on_timer)

    # -- one pass ----------------------------------------------------------------------------

    def _activate(self) -> None:
        if self.closed:
            return
        reactor = self.reactor
        binding = self._binding
        error: Optional[BaseException] = None
        done = False
        outer = reactor.enter()
        try:
            if self.map:
                done = self.stopped = binding.run_passes(0.0, self.use_poll, 1, self._hooks)
            else:
                reactor.run_once(0.0)  # no channel: timers, callbacks, wake-ups still run
                done = self.stopped = reactor.consume_stop()
            if self._until_empty and not self.map:
                done = True
            if not done:
                binding.sync(self.use_poll)  # the interest the loop will now wait with
        except BaseException as exc:
            error = exc
        finally:
            reactor.leave(outer)
        if error is not None:
            self._end(error)
            if not isinstance(error, Exception):
                raise error  # KeyboardInterrupt, SystemExit: out of the asyncio loop too
            return
        if done:
            self._end(None)
            return
        if self._poller_rebuilt():
            self._unwatch_poller()
            self._watch_poller()
        wait = reactor.next_wait(self.timeout)
        if wait is None:
            return
        if wait <= 0.0:
            self._run_soon()
        else:
            self._arm(self.loop.time() + wait)

    def _end(self, error: Optional[BaseException]) -> None:
        finished = self.finished
        if not finished.done():
            if error is None:
                finished.set_result(None)
            elif isinstance(error, Exception):
                finished.set_exception(error)
            else:
                finished.cancel()
        self.detach()

    def detach(self) -> None:
        """Stop serving the map on the loop (idempotent). The channels stay in the map, their
        registrations too: ``loop()`` or another attachment can take over."""
        if self.closed:
            return
        self.closed = True
        self._unwatch_poller()
        for handle in (self._soon, self._timer):
            if handle is not None:
                handle.cancel()
        self._soon = self._timer = None
        reactor = self.reactor
        reactor.leave(self._outer)
        reactor.clock = self._old_clock
        if _attachments.get(reactor) is self:
            del _attachments[reactor]
        if not self.map:
            release(self.map)
        if not self.finished.done():
            self.finished.set_result(None)


def attach(
    map: Optional[MapType] = None,
    *,
    loop: Optional[asyncio.AbstractEventLoop] = None,
    use_poll: bool = False,
    timeout: Optional[float] = 30.0,
) -> Attachment:
    """Serve ``map`` (default: ``socket_map``) on ``loop`` (default: the running loop) until
    :meth:`Attachment.detach`. Call it from the loop's thread.

    ``use_poll`` chooses poll semantics as ``loop(use_poll=True)`` does; ``timeout`` bounds
    the time between two passes (predicates that the stdlib asked every pass are asked at
    least that often, as ``loop(timeout=...)`` would). An empty map stays attached: channels
    added later are served.
    """
    if loop is None:
        loop = asyncio.get_running_loop()
    return Attachment(_default_map() if map is None else map, loop, use_poll, timeout, until_empty=False)


async def serve(
    map: Optional[MapType] = None, *, use_poll: bool = False, timeout: Optional[float] = 30.0
) -> None:
    """Serve ``map`` (default: ``socket_map``) on the running loop, as ``loop()`` would: until
    the map is empty or its reactor is stopped. Cancelling stops serving (the channels stay in
    the map). What would leave ``loop()`` with an exception is raised from here."""
    if map is None:
        map = _default_map()
    if not map:
        return
    attachment = Attachment(map, asyncio.get_running_loop(), use_poll, timeout, until_empty=True)
    try:
        await attachment.finished
    finally:
        attachment.detach()


# -- the other direction ------------------------------------------------------------------------


def event_loop_of(map: Optional[MapType] = None) -> asyncio.AbstractEventLoop:
    """The asyncio loop that serves ``map`` (default: ``socket_map``): an attachment's, or with
    ``ASYNCORE_NG_BACKEND=asyncio``/``uvloop`` the reactor's own. ``RuntimeError`` if none."""
    return _loop_of(bind(_default_map() if map is None else map).reactor)


def _loop_of(reactor: Reactor) -> asyncio.AbstractEventLoop:
    attachment = _attachments.get(reactor)
    if attachment is not None and not attachment.closed:
        return attachment.loop
    waiter = reactor.waiter
    if isinstance(waiter, LoopWaiter):
        return waiter.event_loop()
    raise RuntimeError(
        "this map is not served by an asyncio loop: serve it with asyncore_ng.aio.serve() or "
        "attach(), or run the program with ASYNCORE_NG_BACKEND=asyncio"
    )


def _reactor_of(channel: Any) -> Reactor:
    registration = getattr(channel, "_ng_registration", None)
    if registration is not None:
        reactor: Reactor = registration.reactor
        return reactor
    map = getattr(channel, "_map", None)
    return bind(_default_map() if map is None else map).reactor


def start(
    channel: Any,
    awaitable: Awaitable[T],
    callback: Optional[Callable[[T], Any]] = None,
) -> asyncio.Future[T]:
    """Run ``awaitable`` (a coroutine) on the asyncio loop that serves ``channel``, and when it
    is done call ``callback(result)`` in the channel's loop, inside its error boundary: an
    exception of the coroutine (or of the callback) goes to ``channel.handle_error()``, as one
    raised by a handler would. Returns the task; cancelling it cancels the call quietly (no
    callback). The callback runs even if the channel was closed meanwhile: check
    ``channel.socket`` if that matters.
    """
    reactor = _reactor_of(channel)
    loop = _loop_of(reactor)
    task: asyncio.Future[T] = asyncio.ensure_future(awaitable, loop=loop)

    def deliver() -> None:
        error = task.exception()
        if error is not None:
            raise error
        if callback is not None:
            callback(task.result())

    def done(_: asyncio.Future[T]) -> None:
        _started.discard(task)
        if task.cancelled():
            return
        try:
            reactor.call_soon_threadsafe(guarded_call, channel, deliver)
        except RuntimeError:
            pass  # the reactor was closed meanwhile: nobody left to tell

    # asyncio holds its tasks weakly: a task whose awaited future nothing else holds (a
    # stream's reader, which its protocol holds weakly) would be collected mid-way ("Task was
    # destroyed but it is pending!") unless someone keeps it; handlers call and forget.
    _started.add(task)
    task.add_done_callback(done)
    return task


#: The tasks :func:`start` runs, held until they are done.
_started: set[asyncio.Future[Any]] = set()


def adopt(sock: socket.socket, factory: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Hand a connected socket from asyncio code to a dispatcher: ``factory(sock, *args,
    **kwargs)`` (a dispatcher class, say), served from then on by the loop that serves its map.
    The socket must not be in use by asyncio any more (no transport, no pending ``sock_*``
    call)."""
    sock.setblocking(False)
    return factory(sock, *args, **kwargs)


class PendingInput(RuntimeError):
    """:func:`release_socket` was asked for a socket whose channel holds input it read ahead
    (bulk input): that input would be lost. Ask for it with ``with_input=True``."""


@overload
def release_socket(channel: Any) -> socket.socket: ...


@overload
def release_socket(channel: Any, with_input: Literal[False]) -> socket.socket: ...


@overload
def release_socket(channel: Any, with_input: Literal[True]) -> Tuple[socket.socket, bytes]: ...


def release_socket(channel: Any, with_input: bool = False) -> Any:
    """Take a channel's socket back for asyncio code: the channel leaves its map (without a
    ``handle_close``) and forgets the socket, which stays open and connected. Output still
    queued in the channel is not sent. ``asyncio.open_connection(sock=...)`` makes streams
    of it; ``loop.sock_recv``/``sock_sendall`` use it as it is.

    With bulk input (``ng_bulk_input``) the channel may hold bytes it read from the socket
    ahead of its ``recv()`` calls: they come before anything the socket still has. With
    ``with_input=True`` the result is ``(socket, those bytes)``; without it, a channel that
    holds any raises :class:`PendingInput` (and keeps its socket), so none is lost unseen.
    (Input an ``async_chat`` received and did not frame yet is in its ``ac_in_buffer``, as in
    the stdlib.)"""
    sock: Optional[socket.socket] = getattr(channel, "socket", None)
    if sock is None:
        raise ValueError(f"{channel!r} has no socket")
    ours = hasattr(channel, "_ng_take_read_ahead")  # (a duck-typed channel reads nothing ahead)
    if not with_input and ours and channel._ng_pending_input():
        raise PendingInput(
            f"{channel!r} holds bytes it read ahead (bulk input) that the socket will not give "
            "again: call release_socket(channel, with_input=True), which returns them with the "
            "socket"
        )
    pending = channel._ng_take_read_ahead() if ours else b""
    channel.del_channel()
    channel.socket = None
    channel.connected = False
    channel.accepting = False
    channel.connecting = False
    return (sock, pending) if with_input else sock


__all__ = [
    "KINDS",
    "Attachment",
    "BridgeUnavailable",
    "LoopWaiter",
    "PendingInput",
    "adopt",
    "attach",
    "event_loop_of",
    "new_event_loop",
    "release_socket",
    "serve",
    "start",
]
