"""``Dispatcher``: asyncore's ``dispatcher`` on the engine.

A dispatcher wraps a non-blocking socket and turns readiness into ``handle_*`` calls exactly as
asyncore documents. The public names, attributes, call order and printed output are the
stdlib's; what differs is underneath (see ``asyncore_ng.loop`` for the notification design):

* The library's predicates (``readable``, ``writable``) are :func:`state_predicate` descriptors,
  and the state they read (``connected``, ``accepting``, ``connecting``) tells the loop when it
  is assigned, so the loop need not ask idle channels every pass. A predicate assigned on an
  instance is honoured at once; a class that overrides a predicate with a plain method, or
  shadows that state with a class attribute, is asked every pass as in the stdlib.
* Extras never change what a program that ignores them sees. Subclasses own every name the
  stdlib did not use: ``reactor``, ``reading_paused`` and the extra methods can be assigned or
  overridden as plain attributes; the library's own code only calls names starting ``_ng_``
  (reserved), never the public extras, so a subclass that happens to define ``pause_reading``
  or ``logger`` for its own purposes keeps its meaning. The one opt-in that changes output,
  routing ``log_info`` to :mod:`logging`, is the namespaced ``asyncore_ng_logger``.
* A stream socket made by :meth:`create_socket` gives the loop nothing to do until
  ``connect()`` or ``listen()`` has reached the kernel: polled in that state, the kernel reports
  a hang-up, which a channel created by a worker thread would otherwise take for a dead
  connection as soon as the loop thread woke up (see :meth:`Dispatcher._ng_filter_interest`).
"""

from __future__ import annotations

import errno
import logging
import os
import select
import socket
import sys
import threading
import weakref
from collections import deque
from errno import errorcode
from operator import attrgetter
from typing import Any, Callable, Deque, Dict, Optional, Tuple, TypeVar, cast

from . import errnos
from .loop import Registration, channel_added, existing_binding, get_reactor, guarded_call, socket_map
from .reactor import Reactor, TimerHandle
from .reactor.core import loop_threads

ChannelMapType = Dict[Any, Any]
F = TypeVar("F", bound=Callable[..., Any])

_MISSING = object()

#: What one system call reads when a channel reads in bulk (see Dispatcher._ng_hold).
READ_AHEAD = 256 * 1024
_logger = logging.getLogger("asyncore_ng")
_handoff_lock = threading.Lock()  # makes a channel's first hand-off queue exactly once
_LOG_LEVELS = {"error": logging.ERROR, "warning": logging.WARNING, "info": logging.INFO}
_get_ident = threading.get_ident


# -- predicates and the state they read --------------------------------------------------


class StatePredicate(property):
    """A ``readable``/``writable`` whose answer changes only when the channel announces it.

    A data descriptor, so that assigning the predicate on an instance
    (``channel.readable = lambda: False``, which the stdlib honoured on the next pass) is seen
    at once: the channel is then asked every pass. Read on an instance, it gives the bound
    method (or what was assigned there). Read on the class, it gives itself, which is called
    as the function is (``asyncore.dispatcher.readable(self)``) and carries its name and
    docstring. (A ``property`` underneath, for that: reading it on the class is then C code,
    not a call of ours, and every loop pass reads each announcing class's two predicates to
    notice one patched on the class since.)
    """

    def __init__(self, func: Callable[..., Any], library: bool = False) -> None:
        name = func.__name__

        # Predicates assigned on an instance live in its ``_ng_overrides`` dict, not its
        # __dict__: reading an instance's __dict__ turns its attributes into a plain dict,
        # which slows every attribute access of that instance from then on (CPython 3.11+
        # keeps them inline).

        bind = func.__get__  # (bind(obj) is the bound method: the fastest way to make one)

        def get(obj: Any) -> Any:
            overrides = obj._ng_overrides
            if overrides is None:
                return bind(obj)
            return overrides[name] if name in overrides else bind(obj)

        def set(obj: Any, value: Any) -> None:
            overrides = obj._ng_overrides
            if overrides is None:
                overrides = obj._ng_overrides = {}
            overrides[name] = value
            registration = obj._ng_registration
            if registration is not None:
                registration.predicates_replaced()

        def delete(obj: Any) -> None:
            overrides = obj._ng_overrides
            if overrides is None or name not in overrides:
                raise AttributeError(name)
            del overrides[name]

        super().__init__(get, set, delete, func.__doc__)
        self.func = func
        self.library = library
        self.__name__ = name
        self.__qualname__ = func.__qualname__
        self.__module__ = func.__module__
        self.__wrapped__ = func

    def __call__(self, obj: Any, *args: Any, **kwargs: Any) -> Any:
        return self.func(obj, *args, **kwargs)

    def __repr__(self) -> str:
        return repr(self.func)


def state_predicate(func: F) -> F:
    """Mark a ``readable``/``writable`` override whose answer changes only when the channel
    calls ``self.interest_changed()``, or inside the channel's own handlers (its predicates are
    asked again after each of its events).

    The loop then stops asking it every pass, so an idle channel costs nothing. Unmarked
    overrides keep the stdlib contract: asked on every pass.
    """
    return cast(F, StatePredicate(func))


def _library_predicate(func: F) -> F:
    return cast(F, StatePredicate(func, library=True))


class AnnouncedState(property):
    """A property for state that a library predicate (or the loop) reads: assigning it, from
    anywhere, tells the loop. Reads go through a C-level getter of the ``_ng_`` slot."""


def announced_state(name: str, on_set: Optional[Callable[[Any, Any], None]] = None) -> AnnouncedState:
    slot = "_ng_" + name

    def setter(self: Any, value: Any) -> None:
        if value != getattr(self, slot):
            setattr(self, slot, value)
            if on_set is not None:
                on_set(self, value)
            self._ng_announce()

    return AnnouncedState(
        attrgetter(slot), setter, None, f"asyncore's ``{name}`` (assigning it tells the loop)."
    )


class _PlainReadOnly:
    """A non-data descriptor: reading gives ``compute(obj)``, assigning stores a plain
    attribute that wins from then on (a subclass's own ``reactor``, say)."""

    def __init__(self, compute: Callable[[Any], Any], doc: str) -> None:
        self.compute = compute
        self.__doc__ = doc

    def __get__(self, obj: Any, cls: Optional[type] = None) -> Any:
        if obj is None:
            return self
        return self.compute(obj)


def weak_callback(owner: Any, method: str) -> Callable[[], None]:
    """A callable that calls ``owner.<method>()`` while ``owner`` lives, without keeping it
    alive: buffers a channel owns report to it this way (a cycle would leave an unclosed
    channel's socket to the cycle collector, warning late)."""
    ref = weakref.ref(owner)

    def call() -> None:
        target = ref()
        if target is not None:
            getattr(target, method)()

    call.__name__ = method
    call.__qualname__ = f"{type(owner).__qualname__}.{method} (weakly)"  # (debug mode names it)
    return call


# -- module helpers the stdlib had -------------------------------------------------------


def strerror(err: int) -> str:
    """``os.strerror`` that never fails (the stdlib's ``_strerror``)."""
    try:
        return os.strerror(err)
    except (ValueError, OverflowError, NameError):
        if err in errorcode:
            return errorcode[err]
        return f"Unknown error {err}"


def compact_traceback() -> Tuple[Tuple[str, str, str], Any, Any, str]:
    """The exception being handled, as ``((file, function, line), type, value, info)`` where
    ``info`` is ``"[file|function|line] ..."`` for every frame, innermost last."""
    t, v, tb = sys.exc_info()
    if not tb:
        raise AssertionError("traceback does not exist")
    frames = []
    while tb:
        code = tb.tb_frame.f_code
        frames.append((code.co_filename, code.co_name, str(tb.tb_lineno)))
        tb = tb.tb_next
    info = " ".join("[%s|%s|%s]" % frame for frame in frames)  # noqa: UP031 (the stdlib's format)
    return frames[-1], t, v, info


# The socket's state as the loop sees it (see the module notes): a stream socket made by
# create_socket() that neither connect() nor listen() has reached the kernel with yet.
_SOCKET_READY = 0
_SOCKET_FRESH = 1  # made by create_socket(), nothing asked of the kernel through us yet
_SOCKET_ARMING = 2  # inside connect() or listen(), before the system call returned

_POLL_PROBE = getattr(select, "poll", None)


def never_used(sock: Any) -> bool:
    """Ask the kernel whether the stream socket ``sock`` is as ``socket()`` made it: not
    connected, not connecting, not listening, no error pending.

    A program may connect or listen through ``self.socket`` itself (``connect_ex``), which the
    dispatcher's flags never see; only the kernel knows. Listening: ``SO_ACCEPTCONN``.
    Connected: ``getpeername()`` answers. Otherwise poll(2) tells the rest apart without
    changing anything (``SO_ERROR`` would clear the error the program is about to read): a
    socket never connected reports a hang-up and no error (Linux, for TCP and AF_UNIX: the
    ``TCP_CLOSE`` state), a connect in progress reports nothing yet, a failed one an error.
    Anything that is not a real socket, or a question the platform cannot answer, counts as
    used (its events are delivered, as the stdlib delivered them).
    """
    if type(sock) is not socket.socket or _POLL_PROBE is None:
        return False
    try:
        if sock.getsockopt(socket.SOL_SOCKET, getattr(socket, "SO_ACCEPTCONN", -1)):
            return False
    except OSError:
        pass
    try:
        sock.getpeername()
        return False
    except OSError as why:
        if why.errno != errno.ENOTCONN:
            return False
    try:
        probe = _POLL_PROBE()
        probe.register(sock.fileno(), select.POLLIN | select.POLLOUT)
        reported = probe.poll(0)
    except (OSError, ValueError):
        return False
    bits = reported[0][1] if reported else 0
    return bool(bits & select.POLLHUP) and not bits & select.POLLERR


def _set_reuseport(sock: Any) -> None:
    """SO_REUSEPORT on a TCP socket (AF_INET/AF_INET6, SOCK_STREAM), where the platform has it."""
    tcp = getattr(sock, "type", None) == socket.SOCK_STREAM and getattr(sock, "family", None) in (
        socket.AF_INET,
        socket.AF_INET6,
    )
    try:
        if tcp and hasattr(socket, "SO_REUSEPORT"):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    except OSError:
        pass


class Dispatcher:
    """The engine's asyncore ``dispatcher``; see the asyncore documentation for each member.

    Extras beyond the stdlib (all optional, none needed by stdlib code):
    :meth:`interest_changed`, :attr:`reactor`, :meth:`call_later`, :meth:`call_at`,
    :meth:`call_soon`, :meth:`pause_reading`/:meth:`resume_reading`,
    :meth:`set_idle_timeout`/:meth:`handle_idle_timeout`, the listener's back-off on descriptor
    exhaustion (``ng_accept_backoff_initial``/``ng_accept_backoff_max``), and
    :attr:`asyncore_ng_logger` (when set, ``log_info`` logs there instead of printing).
    """

    debug = False
    closing = False
    addr: Any = None
    ignore_log_types = frozenset({"warning"})
    #: When set to a ``logging.Logger``, ``log_info`` logs there (at the level its type names)
    #: instead of printing. Namespaced so that no program's own ``logger`` can collide with it.
    asyncore_ng_logger: Optional[logging.Logger] = None

    #: Bulk input (off by default; ``ASYNCORE_NG_BULK_INPUT=1`` turns it on for every class):
    #: a channel whose ``recv()`` calls are answered in full reads up to 256 KiB ahead in one
    #: system call, and the loop then hands it that input in a burst of ``handle_read`` calls
    #: within one pass, its ``dispatcher_with_send`` replies going out in one system call.
    #: Several ``handle_read`` calls in one pass is the one thing a program can observe.
    ng_bulk_input = os.environ.get("ASYNCORE_NG_BULK_INPUT", "") not in ("", "0")

    #: Back-off of a listener whose ``accept()`` fails for lack of descriptors (EMFILE, ENFILE,
    #: ENOBUFS, ENOMEM): it stops being watched for this long, doubling up to the maximum, and
    #: is watched again as soon as any channel of its map closes.
    ng_accept_backoff_initial = 0.05
    ng_accept_backoff_max = 1.0

    socket: Any
    _fileno: Any
    _map: Any

    # The engine's own state: every name starts with _ng_ (reserved), with class defaults, so a
    # subclass initialised by other means (or not at all) never meets a missing attribute.
    _ng_registration: Optional[Registration] = None  # set by the loop while in a bound map
    _ng_overrides: Optional[Dict[str, Any]] = None  # predicates assigned on the instance
    _ng_connected: Any = False
    _ng_accepting: Any = False
    _ng_connecting: Any = False
    _ng_socket_state = _SOCKET_READY
    _ng_reading_paused = False
    _ng_input_ended = False  # recv() saw the end of input (see BufferedOutput)
    _ng_bulk = False  # recv() calls are answered in full: read ahead (see _ng_hold)
    _ng_held: bytes = b""  # read ahead, not yet returned by recv()
    _ng_handle_read_event: Callable[..., None]  # (set below the class)
    _ng_held_pos = 0
    _ng_closed_by: Optional[int] = None  # the thread that called close()
    #: Operations of other threads waiting for the loop's thread, in order (_ng_hand_over).
    _ng_handoff: Optional[Deque[Tuple[Callable[..., Any], Tuple[Any, ...]]]] = None
    _ng_idle_timeout: Optional[float] = None
    _ng_idle_timer: Optional[TimerHandle] = None
    _ng_last_activity = 0.0
    _ng_accept_delay = 0.0
    _ng_accept_timer: Optional[TimerHandle] = None
    #: The module whose globals the stdlib's methods looked up at call time (``socket``): the
    #: ``asyncore`` shim points its classes at itself, so tests that replace ``asyncore.socket``
    #: see ``create_socket`` use their fake.
    _ng_globals: Dict[str, Any] = globals()
    #: Names of the announced state this class's predicates read (see ``asyncore_ng.loop``).
    _ng_announced_state: Tuple[str, ...] = ("connected", "accepting", "connecting")
    #: Whether this class's announced state is its own properties (no class attribute of a
    #: subclass shadows them): then the library's hot paths read the ``_ng_`` slots behind
    #: them directly, which is what the properties would return, without a descriptor call
    #: per event. Set for every subclass when it is made (``__init_subclass__``).
    _ng_direct_state = True
    #: Whether ``connected`` and ``accepting`` are this class's properties; then ``_ng_io``
    #: says, in one attribute, "connected and not listening": a read or write event goes
    #: straight to handle_read/handle_write (the hottest test of all, kept in step by the two
    #: properties' setters).
    _ng_plain_io = True
    _ng_io = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._ng_direct_state = all(
            isinstance(_static_lookup(cls, name), AnnouncedState) for name in cls._ng_announced_state
        )
        cls._ng_plain_io = all(
            isinstance(_static_lookup(cls, name), AnnouncedState) for name in ("connected", "accepting")
        )

    def _ng_socket_now_ready(self) -> None:
        if self._ng_socket_state != _SOCKET_READY:
            self._ng_socket_state = _SOCKET_READY
            self._ng_announce()

    def _ng_note_connected(self, value: Any) -> None:
        if value and self._ng_socket_state == _SOCKET_FRESH:
            self._ng_socket_state = _SOCKET_READY
        self._ng_io = self._ng_plain_io and bool(value) and not self._ng_accepting

    def _ng_note_accepting(self, value: Any) -> None:
        self._ng_io = self._ng_plain_io and not value and bool(self._ng_connected)

    connected = announced_state("connected", _ng_note_connected)
    accepting = announced_state("accepting", _ng_note_accepting)
    connecting = announced_state("connecting")

    def __init__(self, sock: Optional[socket.socket] = None, map: Optional[ChannelMapType] = None):
        if map is None:
            self._map = self._ng_default_map()
        else:
            self._map = map
        self._fileno = None
        if sock:
            sock.setblocking(False)
            self.set_socket(sock, map)
            self.connected = True
            try:
                self.addr = sock.getpeername()
            except OSError as err:
                if err.errno in errnos.NOT_CONNECTED_YET:
                    self.connected = False
                else:
                    self.del_channel(map)
                    raise
        else:
            self.socket = None

    def _ng_default_map(self) -> ChannelMapType:
        """The map used when none is given. The ``asyncore`` shim overrides it to read its
        module's ``socket_map`` at call time (code rebinds ``asyncore.socket_map``)."""
        return socket_map

    def __repr__(self) -> str:
        status = [self.__class__.__module__ + "." + self.__class__.__qualname__]
        if self.accepting and self.addr:
            status.append("listening")
        elif self.connected:
            status.append("connected")
        if self.addr is not None:
            try:
                status.append("%s:%d" % self.addr)  # noqa: UP031 (the stdlib's exact format)
            except TypeError:
                status.append(repr(self.addr))
        return "<{} at {:#x}>".format(" ".join(status), id(self))

    # -- the loop's side (reserved names) --------------------------------------------------

    @classmethod
    def _ng_announces_interest(cls) -> bool:
        """Whether every change of this class's predicates' answers is announced: both are
        :func:`state_predicate` descriptors and no class attribute shadows the state they
        read (``class W(dispatcher_with_send): connected = False`` does)."""
        for name in ("readable", "writable"):
            if not isinstance(_static_lookup(cls, name), StatePredicate):
                return False
        return all(isinstance(_static_lookup(cls, name), AnnouncedState) for name in cls._ng_announced_state)

    @classmethod
    def _ng_rechecks_after_dispatch(cls) -> bool:
        """A user predicate marked :func:`state_predicate` was promised that changes made in
        the channel's own handlers are noticed: ask it again after each of its events."""
        return any(
            not cast(StatePredicate, _static_lookup(cls, name)).library for name in ("readable", "writable")
        )

    def _ng_filter_interest(self, readable: Any, writable: Any) -> Tuple[Any, Any]:
        """Adjust the predicates' answers before the loop registers them.

        A stream socket made by :meth:`create_socket` that is not connected, connecting,
        listening or accepting gives the loop nothing to do: polled in that state the kernel
        reports a hang-up, and ``recv`` then fails with ENOTCONN, closing a channel that a
        worker thread created a moment before its ``connect()`` (the stdlib escaped only
        because its ``select()`` did not see new descriptors before its timeout ended). So
        such a socket has no interest until ``connect()``/``listen()`` has returned from the
        kernel, the program marks it ``connected``/``accepting``/``connecting`` itself, or the
        kernel says it is in use: a program may connect through ``self.socket`` itself, which
        no flag tells, so while the flags say "never used" the kernel is asked (:func:`never_used`)
        on every pass until it disagrees. Reading may also be paused (:meth:`pause_reading`).
        """
        state = self._ng_socket_state
        if state != _SOCKET_READY and (
            state == _SOCKET_ARMING or not (self.connected or self.accepting or self.connecting)
        ):
            if state == _SOCKET_ARMING:
                return False, False  # connect()/listen() announce when they return
            if never_used(self.socket):
                # Nothing announces a connect the program makes through self.socket itself:
                # ask the kernel again next pass (stdlib code may do just that).
                registration = self._ng_registration
                if registration is not None:
                    registration.ask_again_next_pass()
                return False, False
            self._ng_socket_state = _SOCKET_READY  # the program used the socket itself
        if self._ng_reading_paused:
            return False, writable
        return readable, writable

    def _ng_announce(self) -> None:
        registration = self._ng_registration
        if registration is not None:
            registration.interest_changed()

    def _ng_reactor(self) -> Reactor:
        registration = self._ng_registration
        if registration is not None:
            return registration.reactor
        return get_reactor(self._map)

    def _ng_in_other_thread(self) -> bool:
        """Whether the loop that serves this channel runs in another thread (the caller then
        hands its work to the loop's thread instead of touching buffers the loop sends from)."""
        registration = self._ng_registration
        if registration is not None:
            return registration.reactor.owned_by_another_thread()
        binding = existing_binding(self._map)
        return binding is not None and binding.reactor.owned_by_another_thread()

    # Operations of other threads. While the loop that serves a channel runs in another
    # thread, what touches the channel's output (send on a dispatcher_with_send, push,
    # push_with_producer, close_when_done, initiate_send, discard_buffers) is handed to the
    # loop's thread through this queue, in the order the program made the calls; close()
    # joins the queue when operations are still waiting in it (so a worker's "send, then
    # close" sends, then closes), and acts at once otherwise. The queue belongs to the channel
    # and holds functions, not bound methods (no reference cycle); close() empties it: what a
    # closed channel was still to do is dropped, as the stdlib's close dropped queued output.

    def _ng_from_other_thread(self) -> bool:
        """Whether the caller runs in a thread other than the loop's that serves this channel
        (cheap on the loop's thread when one thread runs every loop)."""
        return loop_threads.sole != _get_ident() and self._ng_in_other_thread()

    def _ng_hand_over(self, function: Callable[..., Any], *args: Any) -> None:
        """Run ``function(self, *args)`` in the loop's thread, after the operations already
        handed over (the caller found the loop running in another thread)."""
        queue = self._ng_handoff
        if queue is None:
            with _handoff_lock:
                queue = self._ng_handoff
                if queue is None:
                    queue = self._ng_handoff = deque()
        queue.append((function, args))
        self._ng_reactor().call_soon_threadsafe(weak_callback(self, "_ng_run_handed_over"))

    def _ng_run_handed_over(self) -> None:
        # In the loop's thread: each operation inside the handlers' error boundary.
        queue = self._ng_handoff
        while queue:
            function, args = queue.popleft()
            guarded_call(self, function, self, *args)
            queue = self._ng_handoff

    def _ng_close_waits(self, close: Callable[..., Any]) -> bool:
        """Whether ``close`` (the library's own ``close`` running now: the first of them in
        the class's MRO, so a program's override above it runs once, in its thread) must join
        the operations other threads handed over; it is then queued behind them."""
        if self._ng_in_other_thread():
            self._ng_hand_over(close)
            return True
        return False

    # -- the map -----------------------------------------------------------------------

    def add_channel(self, map: Optional[ChannelMapType] = None) -> None:
        if map is None:
            map = self._map
        map[self._fileno] = self
        channel_added(map, self._fileno)

    def del_channel(self, map: Optional[ChannelMapType] = None) -> None:
        fd = self._fileno
        if map is None:
            map = self._map
        if fd in map:
            del map[fd]
        # Unregister from the kernel now, before the caller closes the socket.
        registration = self._ng_registration
        if registration is not None:
            registration.cancel()
        self._fileno = None

    # -- extras (public names; the library itself never calls them) -------------------------

    def interest_changed(self) -> None:
        """Tell the loop that ``readable()`` or ``writable()`` may now answer differently.

        Needed only for predicates marked :func:`state_predicate`, and only for changes made
        outside this channel's own handlers. Cheap; safe from other threads (wakes the loop).
        """
        self._ng_announce()

    reactor = _PlainReadOnly(
        lambda self: self._ng_reactor(),
        "The reactor that drives this channel's map (created on first use). A subclass may "
        "assign its own ``reactor`` attribute; the library never reads this name.",
    )

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> TimerHandle:
        """Run ``callback(*args)`` in ``delay`` seconds on this channel's reactor. An exception
        in it goes to the reactor's exception handler; cancel with ``handle.cancel()``."""
        return self._ng_reactor().call_later(delay, callback, *args)

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any) -> TimerHandle:
        """Run ``callback(*args)`` when the reactor's clock (``time()``) reaches ``when``."""
        return self._ng_reactor().call_at(when, callback, *args)

    def call_soon(self, callback: Callable[..., Any], *args: Any) -> None:
        """Run ``callback(*args)`` at the end of the current (or next) loop pass."""
        self._ng_reactor().call_soon(callback, *args)

    def pause_reading(self) -> None:
        """Stop watching this channel for input until :meth:`resume_reading`, whatever
        ``readable()`` answers (it is still asked, so per-pass ticks keep running)."""
        self._ng_pause_reading()

    def resume_reading(self) -> None:
        """Undo :meth:`pause_reading`."""
        self._ng_resume_reading()

    reading_paused = _PlainReadOnly(
        lambda self: self._ng_reading_paused, "Whether :meth:`pause_reading` is in effect."
    )

    def _ng_pause_reading(self) -> None:
        if not self._ng_reading_paused:
            self._ng_reading_paused = True
            self._ng_announce()

    def _ng_resume_reading(self) -> None:
        if self._ng_reading_paused:
            self._ng_reading_paused = False
            self._ng_announce()

    def set_idle_timeout(self, seconds: Optional[float]) -> None:
        """Call :meth:`handle_idle_timeout` when no data has been received or sent for
        ``seconds`` (``None`` turns it off). Costs one timer per channel, re-armed lazily: data
        moving only updates a timestamp."""
        if seconds is not None and seconds <= 0:
            raise ValueError(f"idle timeout must be positive, got {seconds!r}")
        if self._ng_idle_timer is not None:
            self._ng_idle_timer.cancel()
            self._ng_idle_timer = None
        self._ng_idle_timeout = seconds
        if seconds is not None:
            reactor = self._ng_reactor()
            self._ng_last_activity = reactor.time()
            self._ng_idle_timer = reactor.call_later(seconds, weak_callback(self, "_ng_check_idle"))

    def handle_idle_timeout(self) -> None:
        """Called when the idle timeout expires (inside the handlers' error boundary). The
        default logs the reason to the ``asyncore_ng`` logger and calls ``handle_close()``."""
        _logger.info("closing %r: idle for %ss", self, self._ng_idle_timeout)
        self.handle_close()

    def _ng_note_activity(self) -> None:
        registration = self._ng_registration
        self._ng_last_activity = (
            registration.reactor.pass_time if registration is not None else self._ng_reactor().time()
        )

    def _ng_check_idle(self) -> None:
        self._ng_idle_timer = None
        timeout = self._ng_idle_timeout
        if timeout is None or self.socket is None or self._fileno is None:
            return
        reactor = self._ng_reactor()
        due = self._ng_last_activity + timeout
        if reactor.time() >= due:
            guarded_call(self, self.handle_idle_timeout)
        else:
            self._ng_idle_timer = reactor.call_at(due, weak_callback(self, "_ng_check_idle"))

    # -- socket operations ---------------------------------------------------------------

    def create_socket(self, family: int = socket.AF_INET, type: int = socket.SOCK_STREAM) -> None:
        self.family_and_type = family, type
        sock = self._ng_globals["socket"].socket(family, type)
        sock.setblocking(False)
        if type & 0xF == socket.SOCK_STREAM:
            self._ng_socket_state = _SOCKET_FRESH
        self.set_socket(sock)

    def set_socket(self, sock: Any, map: Optional[ChannelMapType] = None) -> None:
        self.socket = sock
        self._fileno = sock.fileno()
        self.add_channel(map)

    def set_reuse_addr(self) -> None:
        sockets = self._ng_globals["socket"]
        try:
            self.socket.setsockopt(
                sockets.SOL_SOCKET,
                sockets.SO_REUSEADDR,
                self.socket.getsockopt(sockets.SOL_SOCKET, sockets.SO_REUSEADDR) | 1,
            )
        except OSError:
            pass

    @_library_predicate
    def readable(self) -> bool:
        return True

    @_library_predicate
    def writable(self) -> bool:
        return True

    def listen(self, num: int = socket.SOMAXCONN) -> None:
        arming = self._ng_socket_state == _SOCKET_FRESH
        if arming:
            self._ng_socket_state = _SOCKET_ARMING
        try:
            self.accepting = True
            return self.socket.listen(num)  # type: ignore[no-any-return]
        finally:
            if arming:
                self._ng_socket_now_ready()

    def bind(self, addr: Any) -> None:
        self.addr = addr
        if os.environ.get("ASYNCORE_NG_REUSEPORT") == "1":
            # `asyncore-ng ... --workers N` (asyncore_ng.workers): the workers share the port.
            _set_reuseport(self.socket)
        return self.socket.bind(addr)  # type: ignore[no-any-return]

    def connect(self, address: Any) -> None:
        # Idle while the kernel has not been asked (see _ng_filter_interest): a loop thread
        # woken by the assignments below must not poll the socket before connect_ex returns.
        self._ng_socket_state = _SOCKET_ARMING
        try:
            self.connected = False
            self.connecting = True
            err = self.socket.connect_ex(address)
        finally:
            self._ng_socket_now_ready()
        if err in errnos.CONNECT_PENDING or (err == errno.EINVAL and os.name == "nt"):
            self.addr = address
            return
        if err in errnos.CONNECT_DONE:
            self.addr = address
            self.handle_connect_event()
        else:
            raise OSError(err, errorcode[err])

    def accept(self) -> Optional[Tuple[socket.socket, Any]]:
        try:
            conn, addr = self.socket.accept()
        except TypeError:
            return None
        except OSError as why:
            if why.errno in errnos.ACCEPT_NOTHING:
                return None
            if why.errno in errnos.DESCRIPTOR_EXHAUSTION:
                # Retrying at once cannot succeed and would spin: back off (see the class notes)
                # while established channels go on being served. The connection stays queued.
                self._ng_back_off_accepting(why)
                return None
            raise
        else:
            if self._ng_accept_delay:
                self._ng_accept_delay = 0.0
            return conn, addr

    def _ng_back_off_accepting(self, why: OSError) -> None:
        first = not self._ng_accept_delay
        self._ng_accept_delay = delay = min(
            max(self._ng_accept_delay * 2, self.ng_accept_backoff_initial), self.ng_accept_backoff_max
        )
        if first:
            _logger.warning("%r: accept() failed (%s); pausing accepts for %.2fs", self, why, delay)
        self._ng_pause_reading()
        if self._ng_accept_timer is not None:
            self._ng_accept_timer.cancel()
        resume = weak_callback(self, "_ng_resume_accepting")
        self._ng_accept_timer = self._ng_reactor().call_later(delay, resume)
        registration = self._ng_registration
        if registration is not None:
            registration.binding.on_next_close(weak_callback(self, "_ng_resume_accepting"))

    def _ng_resume_accepting(self) -> None:
        if self._ng_accept_timer is not None:
            self._ng_accept_timer.cancel()
            self._ng_accept_timer = None
        if self.accepting:
            self._ng_resume_reading()

    def _ng_peer_gone(self) -> None:
        """``send``/``recv`` found the connection gone: ``handle_close``, as the stdlib did."""
        self.handle_close()

    def _ng_closed_elsewhere(self) -> bool:
        # close() ran in another thread: a send/recv that failed for that reason in this one
        # must not call handle_close on a channel its owner has already closed.
        closer = self._ng_closed_by
        return closer is not None and closer != _get_ident()

    def send(self, data: Any) -> int:
        try:
            result: int = self.socket.send(data)
        except OSError as why:
            if why.errno == errno.EWOULDBLOCK:
                return 0
            if why.errno in errnos.DISCONNECTED:
                if not self._ng_closed_elsewhere():
                    self._ng_peer_gone()
                return 0
            raise
        if self._ng_idle_timeout is not None and result:
            self._ng_note_activity()
        return result

    def recv(self, buffer_size: int) -> bytes:
        if self._ng_bulk:  # (bytes held imply reading in bulk: see _ng_hold)
            held = self._ng_held
            if held:
                # The usual call of a burst, answered from what is held (_ng_take_held, for
                # its middle pieces; it does the rest).
                start = self._ng_held_pos
                stop = start + buffer_size
                if start < stop < len(held):
                    self._ng_held_pos = stop
                    return held[start:stop]
                return self._ng_take_held(buffer_size)
            return self._ng_recv_bulk(buffer_size)
        try:
            data: bytes = self.socket.recv(buffer_size)
            if not data:
                return self._ng_end_of_input()
        except OSError as why:
            return self._ng_recv_failed(why)
        if self.ng_bulk_input and len(data) == buffer_size and self._ng_reads_in_bulk():
            self._ng_bulk = True  # the kernel had more: read ahead from now on
        if self._ng_idle_timeout is not None:
            self._ng_note_activity()
        return data

    def _ng_recv_bulk(self, buffer_size: int) -> bytes:
        # recv() of a channel reading in bulk (see _ng_hold): from what is held, else one
        # read of up to READ_AHEAD bytes whose rest is held. (A method of its own, so that the
        # plain path above pays nothing for it.)
        if self._ng_held:
            return self._ng_take_held(buffer_size)
        sock = self.socket
        if type(sock) is not socket.socket or not 0 < buffer_size < READ_AHEAD:
            self._ng_bulk = False
            return self.recv(buffer_size)
        try:
            data: bytes = sock.recv(READ_AHEAD)
            if not data:
                return self._ng_end_of_input()
        except OSError as why:
            return self._ng_recv_failed(why)
        if len(data) > buffer_size:
            self._ng_hold(data, buffer_size)
            data = data[:buffer_size]
        elif len(data) < buffer_size:
            self._ng_bulk = False
        if self._ng_idle_timeout is not None:
            self._ng_note_activity()
        return data

    def _ng_end_of_input(self) -> bytes:
        # recv() read nothing: the peer shut down its sending side (see BufferedOutput).
        self._ng_input_ended = True
        self.handle_close()
        return b""

    def _ng_recv_failed(self, why: OSError) -> bytes:
        # recv()'s system call failed: a disconnect closes the channel, as the stdlib's did;
        # any other error propagates (to handle_error).
        if why.errno in errnos.DISCONNECTED:
            if not self._ng_closed_elsewhere():
                self._ng_peer_gone()
            return b""
        raise why

    def _ng_hold(self, data: bytes, taken: int) -> None:
        self._ng_held = data
        self._ng_held_pos = taken
        registration = self._ng_registration
        if registration is not None:
            registration.ready_again()

    def _ng_take_held(self, buffer_size: int) -> bytes:
        held = self._ng_held
        start = self._ng_held_pos
        stop = start + buffer_size
        if buffer_size <= 0:
            return held[start:start]
        if stop < len(held):
            self._ng_held_pos = stop
            return held[start:stop]
        self._ng_held = b""
        registration = self._ng_registration
        if registration is not None:
            registration.ready_again(False)  # used up: no report without a kernel event
        return held[start:] if start else held

    def _ng_reads_in_bulk(self) -> bool:
        # Read-ahead is opt-in (ng_bulk_input, or ASYNCORE_NG_BULK_INPUT=1): its bursts change
        # how many handle_read calls one pass makes, which a program can observe. It serves
        # only real sockets, and channels that bursts serve (announced predicates): a channel
        # asked every pass would trade system calls for passes, which costs more than it saves.
        registration = self._ng_registration
        return type(self.socket) is socket.socket and registration is not None and not registration.polled

    def _ng_pending_input(self) -> bool:
        """Whether recv() would return data without asking the kernel (read-ahead)."""
        return bool(self._ng_held)

    def _ng_take_read_ahead(self) -> bytes:
        """Remove and return the bytes read ahead and not yet returned by recv(), and stop
        reading ahead: whoever takes over the socket's input (TLS, asyncio code) gets them
        first."""
        held, start = self._ng_held, self._ng_held_pos
        self._ng_bulk = False
        if not held:
            return b""
        self._ng_held = b""
        registration = self._ng_registration
        if registration is not None:
            registration.ready_again(False)
        return held[start:] if start else held

    def _ng_cork_output(self) -> None:
        """A burst of handle_read calls begins (see asyncore_ng.loop): output may be held back
        to go out in one system call when it ends. Channels without an output buffer don't."""

    def _ng_uncork_output(self) -> None:
        """The burst ended: send what was held back."""

    def close(self) -> None:
        if self._ng_handoff and self._ng_close_waits(Dispatcher.close):
            return
        self._ng_closed_by = _get_ident()
        queue = self._ng_handoff
        if queue:
            queue.clear()
        self._ng_held = b""
        self.connected = False
        self.accepting = False
        self.connecting = False
        for timer in (self._ng_idle_timer, self._ng_accept_timer):
            if timer is not None:
                timer.cancel()
        self._ng_idle_timer = self._ng_accept_timer = None
        self.del_channel()
        if self.socket is not None:
            try:
                self.socket.close()
            except OSError as why:
                if why.errno not in errnos.CLOSE_IGNORED:
                    raise

    # -- logging -------------------------------------------------------------------------

    def log(self, message: Any) -> None:
        sys.stderr.write("log: %s\n" % str(message))  # noqa: UP031 (the stdlib's format)

    def log_info(self, message: str, type: str = "info") -> None:
        if type not in self.ignore_log_types:
            route = self.asyncore_ng_logger
            if route is not None:
                route.log(_LOG_LEVELS.get(type, logging.INFO), "%s", message)
            else:
                print("%s: %s" % (type, message))  # noqa: UP031 (the stdlib's format)

    # -- events --------------------------------------------------------------------------

    def handle_read_event(self) -> None:
        if self._ng_io:  # (connected and not listening: see there)
            self.handle_read()
            return
        if self.accepting:
            # Accepting sockets never connect: readiness means a connection to accept.
            self.handle_accept()
        elif not self.connected:
            if self.connecting:
                self.handle_connect_event()
            self.handle_read()
        else:
            self.handle_read()

    def handle_connect_event(self) -> None:
        sockets = self._ng_globals["socket"]
        err = self.socket.getsockopt(sockets.SOL_SOCKET, sockets.SO_ERROR)
        if err != 0:
            raise OSError(err, strerror(err))
        self.handle_connect()
        self.connected = True
        self.connecting = False

    def handle_write_event(self) -> None:
        if self._ng_io:
            self.handle_write()
            return
        if self.accepting:
            # Accepting sockets shouldn't get a write event; ignore it as the stdlib does.
            return
        if not self.connected and self.connecting:
            self.handle_connect_event()
        self.handle_write()

    def handle_expt_event(self) -> None:
        # An exceptional condition is either out-of-band data or a socket error (a refused
        # connect on some systems): SO_ERROR tells them apart.
        sockets = self._ng_globals["socket"]
        err = self.socket.getsockopt(sockets.SOL_SOCKET, sockets.SO_ERROR)
        if err != 0:
            self.handle_close()
        else:
            self.handle_expt()

    def handle_error(self) -> None:
        _, t, v, tbinfo = compact_traceback()
        try:
            self_repr = repr(self)
        except BaseException:
            self_repr = "<__repr__(self) failed for object at %0x>" % id(self)  # noqa: UP031
        self.log_info(
            "uncaptured python exception, closing channel %s (%s:%s %s)" % (self_repr, t, v, tbinfo),  # noqa: UP031
            "error",
        )
        self.handle_close()

    def handle_expt(self) -> None:
        self.log_info("unhandled incoming priority event", "warning")

    def handle_read(self) -> None:
        self.log_info("unhandled read event", "warning")

    def handle_write(self) -> None:
        self.log_info("unhandled write event", "warning")

    def handle_connect(self) -> None:
        self.log_info("unhandled connect event", "warning")

    def handle_accept(self) -> None:
        pair = self.accept()
        if pair is not None:
            self.handle_accepted(*pair)

    def handle_accepted(self, sock: socket.socket, addr: Any) -> None:
        sock.close()
        self.log_info("unhandled accepted event", "warning")

    def handle_close(self) -> None:
        self.log_info("unhandled close event", "warning")
        self.close()


#: The library's own handle_read_event: a burst of reads (asyncore_ng.loop) calls handle_read
#: directly for a channel whose handle_read_event is this one.
Dispatcher._ng_handle_read_event = Dispatcher.handle_read_event


def _static_lookup(cls: type, name: str) -> Any:
    """``name`` as found in ``cls``'s MRO, without calling descriptors."""
    for klass in cls.__mro__:
        if name in klass.__dict__:
            return klass.__dict__[name]
    return None
