"""asyncore's loop semantics over the reactor: the map, the per-pass interest sync, dispatch,
and the stdlib's module-level functions (``loop``, ``poll``, ``poll2``, ``read``, ``write``,
``readwrite``, ``close_all``).

The channel protocol
--------------------
Like the stdlib's ``poll()``, this module knows channels only by what it calls on them:
``readable()``, ``writable()``, ``accepting``, ``handle_read_event()``, ``handle_write_event()``,
``handle_expt_event()``, ``handle_close()``, ``handle_error()``. So it sits *below* the channel
classes (``asyncore_ng.dispatcher`` imports it, never the reverse). A channel class may also take
part in the notification design below through a few reserved names, all starting ``_ng_``:

* ``_ng_registration``: an attribute the loop sets to the channel's :class:`Registration` while
  the channel is in a bound map (the channel calls ``interest_changed()`` and ``cancel()`` on
  it);
* ``_ng_announces_interest(cls)``: a class method answering whether every change of the class's
  ``readable()``/``writable()`` answers is announced (see below);
* ``_ng_rechecks_after_dispatch(cls)``: whether the predicates should be asked again after each
  of the channel's own events (for user classes that promised only that);
* ``_ng_filter_interest(readable, writable)``: adjusts the predicates' answers (paused reading,
  a socket that cannot have events yet, a TLS handshake that wants the other direction).

The notification design
-----------------------
The stdlib asks every channel ``readable()`` and ``writable()`` on every pass and rebuilds the
whole select/poll set: O(all channels) per pass. Here each map gets one :class:`MapBinding`
(and through it one reactor), which keeps a kernel registration per channel and, each pass,
changes only what changed. Which predicates it asks:

* *Polled* registrations: channels whose class overrides ``readable``/``writable`` with plain
  methods (code such as waitress uses ``readable()`` as a per-pass tick), or whose instance
  replaced one, or that are not our channels at all. They are asked on every pass, once, in map
  order, exactly as the stdlib asks them.
* *Announced* registrations: channels whose class says every change is announced (the library's
  own predicates, and user predicates marked ``state_predicate``). Their predicates are asked only
  after an announcement: the state those predicates read (``connected``, ``accepting``,
  ``connecting``, ``out_buffer``, ``producer_fifo``) tells the registration when it is assigned,
  and the library's methods that change the answer call ``interest_changed()``.

That verdict is only as good as the class it was drawn from, so it is checked where user code
can invalidate it: a class attribute shadowing the announcing state (``connected = False``)
makes the class polled; a predicate assigned on an instance switches that channel to polled at
once (the library's predicates are data descriptors that notice it); a predicate patched on the
class after the first pass is noticed on the next pass, by comparing each announced class's
predicates with the ones it was classified with (O(classes) per pass, not O(channels)).

Map changes: the default map is a :class:`ChannelMap`, a ``dict`` that notes which keys changed
while a binding exists; for a plain ``dict`` passed as ``map=``, ``add_channel``/``del_channel``
report changes and a C-speed comparison of the key sets catches entries added or removed by hand.
Changes are reconciled at the start of a pass only: channels added while predicates run are
registered on the next pass, as the stdlib's snapshot of the map would have them.

So a pass costs O(announced changes + polled channels + classes), not O(all channels).

Dispatch follows the stdlib: for each ready channel the object *now* in the map under its key
gets the event (code replaces ``map[fd]`` by hand), an event is skipped once the key left the
map, and the module-level ``read``/``write``/``_exception``/``readwrite`` (of the ``asyncore``
module, which tests patch) are the ones called. ``use_poll=False`` (select semantics): interest
READ if readable, WRITE if writable and not accepting, PRI if either; a hang-up counts as
readable and an error as readable and writable, as select(2) reports them; read, then write,
then exceptional, each skipped once the channel left the map. ``use_poll=True`` (poll semantics):
READ|PRI if readable, WRITE if writable and not accepting; the raw bits go to ``readwrite()``,
which closes the channel on hang-up or error. The kernel interface underneath is the same
either way.

Bursts
------
The stdlib makes at most one ``handle_read`` per channel per pass, and a program can observe
it (``loop(count=1)``, the per-pass tick): so by default we do too. With bulk input on
(``ng_bulk_input``, ``ASYNCORE_NG_BULK_INPUT=1``), a channel whose ``recv()`` calls are answered
in full reads up to 256 KiB ahead in one system call (``Dispatcher._ng_hold``); that input is
then handed to it in a *burst*: ``handle_read`` again and again within the pass, through the
same ``read()`` and its error boundary, while it holds input, stays in the map, keeps its read
interest and announces no change (``pause_reading()`` ends a burst), at most ``BURST_READS``
times. Its replies are corked meanwhile (``_ng_cork_output``/``_ng_uncork_output``:
``dispatcher_with_send`` sends them in one ``sendmsg``). Only channels with announced
predicates burst: a class asked every pass keeps one ``handle_read`` per pass (its
``readable()`` may be a tick that must see each), and so reads no more than asked.
"""

from __future__ import annotations

import errno
import logging
import math
import select
import sys
import threading
import time
from collections import deque
from operator import attrgetter, methodcaller
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

from .errnos import DISCONNECTED
from .exceptions import PASSTHROUGH
from .reactor import ERR, HUP, MAX_WAIT, NVAL, PRI, READ, WRITE, Reactor, Watch, file_identity

logger = logging.getLogger("asyncore_ng")

MapType = Dict[Any, Any]

#: Seconds between two audits of a map for sockets closed behind the loop's back.
AUDIT_INTERVAL = 1.0

#: Most extra handle_read calls one burst makes (see "Bursts" in the module notes).
BURST_READS = 64

# What select(2) reports as readable, writable, exceptional (Linux fs/select.c: POLLIN_SET,
# POLLOUT_SET, POLLEX_SET), in poll(2) bits.
_SELECT_READABLE = READ | HUP | ERR
_SELECT_WRITABLE = WRITE | ERR
_CLOSING = HUP | ERR | NVAL

# The stdlib looked these up at call time; tests replace them. A pass compares with the originals.
_SELECT = select.select
_POLL = getattr(select, "poll", None)
_NOT_YET = object()
#: A channel class's ``(readable, writable)``, as a pass compares them with its verdict's.
_PREDICATES = attrgetter("readable", "writable")
_each = map  # (the builtin, in methods with a local named map)


# -- the map ------------------------------------------------------------------------------


class ChannelMap(Dict[Any, Any]):
    """A ``dict`` that remembers which keys changed since the loop last looked.

    Behaves as a plain dict in every way; while a loop binding exists, the loop uses the note
    to keep its kernel registrations in step in O(changes). A change made from another thread
    wakes the loop.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A deque, not a set: appends and pops stay O(1) (a set drained of many keys keeps its
        # large table, and each later pop scans it), and both are atomic across threads.
        self._changed: Deque[Any] = deque()
        self._binding: Optional[MapBinding] = None

    def _note(self, key: Any) -> None:
        binding = self._binding
        if binding is not None:
            binding.note(key)

    def __setitem__(self, key: Any, value: Any) -> None:
        dict.__setitem__(self, key, value)
        self._note(key)

    def __delitem__(self, key: Any) -> None:
        dict.__delitem__(self, key)
        self._note(key)

    def pop(self, key: Any, *default: Any) -> Any:
        value = dict.pop(self, key, *default)
        self._note(key)
        return value

    def popitem(self) -> Tuple[Any, Any]:
        key, value = dict.popitem(self)
        self._note(key)
        return key, value

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def __ior__(self, other: Any) -> ChannelMap:  # type: ignore[misc]
        self.update(other)
        return self

    def clear(self) -> None:
        keys = list(self)
        dict.clear(self)
        for key in keys:
            self._note(key)


#: The default map (asyncore's ``socket_map``).
socket_map: ChannelMap = ChannelMap()


# -- the channel handlers' error boundary ---------------------------------------------------


def guarded_call(channel: Any, handler: Callable[..., Any], *args: Any) -> None:
    """Call ``handler(*args)`` for ``channel`` inside asyncore's error boundary: ``ExitNow``,
    ``KeyboardInterrupt`` and ``SystemExit`` propagate, anything else goes to
    ``channel.handle_error()`` (whose own exceptions propagate, as in the stdlib)."""
    try:
        handler(*args)
    except PASSTHROUGH:
        raise
    except BaseException:
        channel.handle_error()


def _event_dispatcher(name: str, method: str, doc: str) -> Callable[[Any], None]:
    # read(), write() and _exception() are the same boundary around one handle_*_event method.
    invoke = methodcaller(method)

    def dispatch(obj: Any) -> None:
        try:
            invoke(obj)
        except PASSTHROUGH:
            raise
        except BaseException:
            obj.handle_error()

    dispatch.__name__ = dispatch.__qualname__ = name
    dispatch.__doc__ = doc
    return dispatch


read = _event_dispatcher("read", "handle_read_event", "Dispatch a read event to ``obj``.")
write = _event_dispatcher("write", "handle_write_event", "Dispatch a write event to ``obj``.")
_exception = _event_dispatcher("_exception", "handle_expt_event", "Dispatch an exceptional condition.")


def readwrite(obj: Any, flags: int) -> None:
    """Dispatch poll(2) ``flags`` to ``obj``: read, write, priority, then close on hang-up,
    error or an invalid descriptor; a disconnect error closes, anything else ``handle_error``."""
    try:
        if flags & READ:  # the poll(2) bits, as select.POLLIN... spell them
            obj.handle_read_event()
        if flags & WRITE:
            obj.handle_write_event()
        if flags & PRI:
            obj.handle_expt_event()
        if flags & _CLOSING:
            obj.handle_close()
    except OSError as e:
        if e.errno not in DISCONNECTED:
            obj.handle_error()
        else:
            obj.handle_close()
    except PASSTHROUGH:
        raise
    except BaseException:
        obj.handle_error()


# -- classes: may the loop rely on announcements? ----------------------------------------


class _ClassVerdict:
    """What the loop concluded about one channel class, and the predicates it concluded it
    from (compared each pass: a class patched after the first pass is noticed)."""

    __slots__ = ("announced", "predicates", "rechecks", "registrations")

    def __init__(self, cls: type) -> None:
        self.predicates = (getattr(cls, "readable", None), getattr(cls, "writable", None))
        announces = getattr(cls, "_ng_announces_interest", None)
        self.announced = bool(announces is not None and announces())
        rechecks = getattr(cls, "_ng_rechecks_after_dispatch", None)
        self.rechecks = bool(self.announced and rechecks is not None and rechecks())
        self.registrations = 0


def _descriptor_of(key: Any) -> int:
    if isinstance(key, int):
        return key
    fileno = getattr(key, "fileno", None)
    if fileno is None:
        raise TypeError(f"map keys must be descriptor numbers or objects with a fileno() method, not {key!r}")
    fd = fileno()
    if not isinstance(fd, int) or fd < 0:
        raise ValueError(f"map key {key!r} has no open descriptor (fileno() returned {fd!r})")
    return fd


# -- one channel in a bound map -----------------------------------------------------------


class Registration:
    """What the loop knows of one channel in a bound map; its methods are the watch callbacks.

    A channel keeps it (``_ng_registration``) to call :meth:`interest_changed` and
    :meth:`cancel`. Both are safe from other threads.
    """

    __slots__ = (
        "active",
        "binding",
        "bursts",
        "channel",
        "dirty",
        "fd",
        "filter",
        "key",
        "polled",
        "reactor",
        "rechecks",
        "verdict",
        "wanted",
        "watch",
    )

    def __init__(self, binding: MapBinding, key: Any, fd: int, channel: Any) -> None:
        self.binding = binding
        self.reactor: Reactor = binding.reactor
        self.key = key
        self.fd = fd
        self.channel: Any = channel  # (None once removed: see MapBinding._remove)
        self.active = True
        self.dirty = False  # queued for a predicate check
        self.polled = True
        self.wanted = False  # the predicates' last answer was "readable or writable"
        self.verdict: Optional[_ClassVerdict] = None
        self.rechecks = False  # ask the predicates again after each event (verdict.rechecks)
        #: Whether the channel may read in bulk and get bursts (an announcing class with
        #: ``ng_bulk_input`` when it was classified: see "Bursts" in the module notes).
        self.bursts = False
        self.filter: Optional[Callable[[Any, Any], Tuple[Any, Any]]] = getattr(
            channel, "_ng_filter_interest", None
        )
        self.watch: Optional[Watch] = None

    def interest_changed(self) -> None:
        """The channel's predicates may answer differently: ask them before the next wait."""
        self.binding.mark(self)

    def ready_again(self, again: bool = True) -> None:
        """The channel has input buffered in user space: report it readable on the next pass
        without a kernel event (through the normal handlers and their error boundary); with
        ``again=False``, withdraw that (the input was used up meanwhile)."""
        watch = self.watch
        if watch is not None:
            if again:
                watch.ready_again(READ)
            else:
                watch.clear_ready_again()

    def _burst(self, obj: Any, hooks: Any) -> None:
        # Input a channel read ahead (Dispatcher._ng_hold; ``_ng_held`` is truthy) is handed to
        # it now, in one burst of handle_read calls, while its replies are corked into one
        # send: see "Bursts" in the module notes. Only channels whose predicates are announced
        # (no per-pass tick to honour) and only while the channel stays in the map, interested
        # and unpaused.
        watch = self.watch
        if watch is None or not watch.events & READ:
            return
        map_get: Callable[[Any], Any] = self.binding.map_get
        key = self.key
        # The library's own handle_read_event (neither the class nor the instance replaced it)
        # calls handle_read for a connected channel that is not listening, as the burst's
        # channels are: call it directly, one call fewer per read. Asked once per burst.
        direct = getattr(obj.handle_read_event, "__func__", None) is type(obj)._ng_handle_read_event
        obj._ng_cork_output()
        try:
            for _ in range(BURST_READS):
                # (An announced change, such as pause_reading(), ends the burst: the interest
                # is asked again before anything more is read.)
                if self.dirty or not (self.active and obj._ng_held and map_get(key) is obj):
                    break
                if hooks.read is read:  # (read's body, as in on_select)
                    try:
                        if direct and obj._ng_io:
                            obj.handle_read()
                        else:
                            obj.handle_read_event()
                    except PASSTHROUGH:
                        raise
                    except BaseException:
                        obj.handle_error()
                else:
                    hooks.read(obj)
        finally:
            obj._ng_uncork_output()

    def predicates_replaced(self) -> None:
        """A predicate was assigned on the instance: ask it every pass from now on."""
        self.binding.make_polled(self)

    def ask_again_next_pass(self) -> None:
        """The channel's interest depends on something nothing announces (the kernel's view
        of its socket, see ``Dispatcher._ng_filter_interest``): ask its predicates and filter
        again on the next pass. For the filter to call; lasts one pass."""
        binding = self.binding
        binding._recheck.append(self)
        binding._work = True

    def cancel(self) -> None:
        """The channel leaves the map: unregister now (before its socket closes)."""
        self.binding.forget(self)

    def __repr__(self) -> str:
        return f"<Registration {self.key!r} of {self.channel!r}{'' if self.active else ' cancelled'}>"

    # The dispatch callbacks (see the module notes).

    def on_select(self, bits: int) -> None:
        """Dispatch with select semantics: read, write, exceptional, each to the object now in
        the map under the key, each skipped once the channel left the map.

        The module-level ``read``/``write``/``_exception`` of the running loop's hooks are the
        ones called, as the stdlib called its own; while they are the library's own (not
        replaced by the program), their bodies run here instead: the same boundary (``ExitNow``
        and friends pass, anything else goes to ``handle_error``) without a call per event."""
        binding = self.binding
        key = self.key
        obj = binding.map_get(key)
        # (Both None: another thread closed the channel meanwhile, the registration let go of it.)
        if obj is not self.channel or obj is None:
            if obj is None:
                return
            binding.note(key)  # replaced by hand: registered anew next pass
        interest = self.watch.events  # type: ignore[union-attr]
        hooks = binding.hooks
        if bits & _SELECT_READABLE and interest & READ:
            dispatch = hooks.read
            if dispatch is read:
                try:
                    obj.handle_read_event()
                except PASSTHROUGH:
                    raise
                except BaseException:
                    obj.handle_error()
            else:
                dispatch(obj)
            if not self.active:
                return
            if self.bursts and obj._ng_held and obj is self.channel:
                self._burst(obj, hooks)
                if not self.active:
                    return
            if bits == READ:  # (the usual event: nothing more to look at)
                if self.rechecks:
                    binding.mark(self)
                return
            obj = binding.map_get(key)
        if bits & _SELECT_WRITABLE and interest & WRITE and obj is not None:
            dispatch = hooks.write
            if dispatch is write:
                try:
                    obj.handle_write_event()
                except PASSTHROUGH:
                    raise
                except BaseException:
                    obj.handle_error()
            else:
                dispatch(obj)
            if not self.active:
                return
            obj = binding.map_get(key)
        if bits & (PRI | NVAL) and obj is not None:
            if bits & PRI:
                hooks._exception(obj)
                if not self.active:
                    return
                obj = binding.map_get(key)
            if bits & NVAL and obj is not None:
                binding.drop_broken(self, "its descriptor was closed without close()")
                return
        if self.rechecks and self.active:
            binding.mark(self)

    def on_poll(self, bits: int) -> None:
        """Dispatch with poll semantics: the raw bits go to ``readwrite`` (the library's own is
        run here, as ``on_select`` runs ``read``: see there)."""
        binding = self.binding
        obj = binding.map_get(self.key)
        if obj is not self.channel or obj is None:  # (as in on_select)
            if obj is None:
                return
            binding.note(self.key)
        if bits == READ and binding.hooks.readwrite is readwrite:
            # The usual event, readwrite's body for it. (Bitwise "and" is not an operation the
            # interpreter specializes: testing for this one value spares four of them.)
            try:
                obj.handle_read_event()
            except OSError as e:
                if e.errno not in DISCONNECTED:
                    obj.handle_error()
                else:
                    obj.handle_close()
            except PASSTHROUGH:
                raise
            except BaseException:
                obj.handle_error()
            if self.bursts and obj._ng_held and obj is self.channel and self.active:
                self._burst(obj, binding.hooks)
        else:
            if bits & NVAL:
                binding.drop_broken(self, "its descriptor was closed without close()")
                return
            binding.hooks.readwrite(obj, bits)
            if bits & READ and self.bursts and obj._ng_held and obj is self.channel and self.active:
                self._burst(obj, binding.hooks)
        if self.rechecks and self.active:
            binding.mark(self)

    def on_select_debug(self, bits: int) -> None:
        started = self.binding.reactor.clock()
        self.on_select(bits)
        self.binding.reactor.report_if_slow(started, f"handling events {bits:#x} of {self.channel!r}")

    def on_poll_debug(self, bits: int) -> None:
        started = self.binding.reactor.clock()
        self.on_poll(bits)
        self.binding.reactor.report_if_slow(started, f"handling events {bits:#x} of {self.channel!r}")


# -- one map and its reactor -----------------------------------------------------------------


class MapBinding:
    """One map, its reactor, and the registrations kept in step with the map."""

    def __init__(self, map: MapType, reactor: Optional[Reactor] = None) -> None:
        self.map = map
        self.map_get = map.get  # (dispatch looks the channel up in the map once per event)
        self.reactor = reactor if reactor is not None else Reactor()
        #: Whether the binding made its reactor (only such a binding serves another map when the
        #: program lets go of this one: a reactor given by the program stays with its map).
        self.own_reactor = reactor is None
        #: Where ``read``, ``write``, ``_exception``, ``readwrite``, ``select`` are looked up at
        #: dispatch time: this module, or the ``asyncore`` shim that runs the loop.
        self.hooks: Any = sys.modules[__name__]
        self.poll_semantics = False
        # What a writable channel is registered for (see _update), by the semantics.
        self._write_bits = WRITE | PRI
        self._pri_bits = PRI
        self._registrations: Dict[Any, Registration] = {}
        self._polled: Dict[Any, Registration] = {}
        self._verdicts: Dict[type, _ClassVerdict] = {}
        # The classes whose verdict is "announced", and their predicates when it was made: a
        # pass compares them all at once (sync). Rebuilt when _verdicts changes.
        self._announcing: List[type] = []
        self._announcing_predicates: List[Tuple[Any, Any]] = []
        self._dirty: Deque[Registration] = deque()  # see Registration.dirty
        self._recheck: List[Registration] = []  # asked again on the next pass (ask_again_next_pass)
        self._journal: Deque[Any] = map._changed if isinstance(map, ChannelMap) else deque()
        self._journal.clear()
        self._resync = True  # compare the whole map on the next pass
        #: Whether sync() has something to look at beyond the passes' own checks: set by
        #: whoever queues work for it (note, mark, forget, ask_again_next_pass, adopt); sync()
        #: clears it before looking, so what is queued meanwhile is not missed.
        self._work = True
        self._plain = not isinstance(map, ChannelMap)
        self._wanting = 0  # registrations whose predicates answered readable or writable
        self._on_next_close: List[Callable[[], None]] = []
        self._lock = threading.Lock()  # makes the audit's verdict atomic with forget()
        self._next_audit = 0.0

    # -- told by channels and maps ----------------------------------------------------------

    def note(self, key: Any) -> None:
        """A channel was added to, removed from, or replaced in the map under ``key``."""
        journal = self._journal
        journal.append(key)
        self._work = True
        if len(journal) > 64 and len(journal) > 2 * len(self.map):
            # Changes that no pass has looked at pile up (a map nobody loops): forget them and
            # compare the whole map next time instead.
            journal.clear()
            self._resync = True
        self.reactor.notify()

    def mark(self, reg: Registration) -> None:
        """The channel's predicates may answer differently: ask them before the next wait."""
        if not reg.dirty:
            reg.dirty = True
            self._dirty.append(reg)
            self._work = True
        self.reactor.notify()

    def make_polled(self, reg: Registration) -> None:
        if reg.active and not reg.polled:
            self._unclassify(reg)
            reg.polled = True
            self._polled[reg.key] = reg
        self.reactor.notify()

    def on_next_close(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (as a reactor callback) when any channel of this map next closes:
        a listener short of descriptors waits for one to be freed."""
        self._on_next_close.append(callback)

    def forget(self, reg: Registration) -> None:
        """The channel is leaving the map: unregister it now (before its socket closes)."""
        with self._lock:
            if reg.active and self._registrations.get(reg.key) is reg:
                self._remove(reg)
            else:
                reg.active = False
        self._journal.append(reg.key)
        self._work = True
        if self.reactor.running_thread is not None:
            return  # (the pass, or the end of loop(), looks after what follows)
        if not self.map:
            self._release()  # the last channel left: no descriptor of ours stays open
        elif self._plain and _SOLE_REFERENCE is not None and _let_go(self):
            # A map the program made for one call and dropped (see _sweep) still holds the
            # channel leaving it: let go of the map now, not at the next sweep.
            release_dropped(self)

    # -- keeping registrations in step ---------------------------------------------------

    def sync(self, poll_semantics: bool) -> None:
        """Bring kernel interest in line with the map and the predicates, before a wait."""
        self._work = False
        if poll_semantics is not self.poll_semantics:
            self._switch_semantics(bool(poll_semantics))
        if (
            self._journal
            or self._resync
            or self._recheck
            or (self._plain and self.map.keys() != self._registrations.keys())
        ):
            self._sync_map()
        if self._announcing:
            self._check_verdicts()
        # Polled registrations: asked once per pass, in map order (their predicates may be a
        # per-pass tick). Channels they add wait in the journal for the next pass. One they
        # close is still asked, as the stdlib's snapshot of the map asked it, but no longer
        # registered.
        polled = self._polled
        if len(polled) == 1:
            for reg in polled.values():  # (the one channel: nothing can close it before it is asked)
                if reg.active:
                    self._update(reg)
                break
        elif polled:
            for reg, channel in [(reg, reg.channel) for reg in polled.values()]:
                if reg.active:
                    self._update(reg)
                elif channel is not None:
                    channel.readable()
                    channel.writable()
        # Announced ones whose state changed. Their predicates are the library's (or promised
        # side-effect free), so asking one twice is harmless: a change announced while this
        # runs (one channel's predicate pushing to another) is taken in the same pass.
        dirty = self._dirty
        while dirty:
            reg = dirty.popleft()
            reg.dirty = False  # before asking: a concurrent mark() then queues it again
            if reg.active and not reg.polled:
                self._update(reg)

    def _check_verdicts(self) -> None:
        """Do the announcing classes' predicates still hold what their verdicts were made from?
        A class whose ``readable`` or ``writable`` was patched since is classified again (its
        channels are asked from now on, as the stdlib asked them).

        When: at every sync() that has work, when ``loop()`` (or ``poll()``) begins, and with
        the audit, once a second. Not on every pass: it costs two attribute look-ups per class
        and a comparison (2.5% of a pass with one event), and a class patched by a handler
        while ``loop()`` runs is all it could catch sooner (the stdlib obeyed such a patch on
        its next pass; here, within a second at most). One C-level comparison of every class's
        pair first."""
        classes = self._announcing
        if classes and list(_each(_PREDICATES, classes)) != self._announcing_predicates:
            for cls, pair in zip(classes, self._announcing_predicates):
                if _PREDICATES(cls) != pair:
                    self._reclassify(cls)
                    break  # the lists changed; the next check looks at the other classes

    def _sync_map(self) -> None:
        # sync()'s first step, when the map (or a channel's view of the kernel) may have
        # changed: registrations brought in step with the map, and channels that asked for it
        # queued for a predicate check.
        journal = self._journal
        if self._resync or (self._plain and self.map.keys() != self._registrations.keys()):
            self._resync = False
            journal.extend(self.map.keys() ^ self._registrations.keys())
            journal.extend(
                key for key, reg in self._registrations.items() if self.map.get(key) is not reg.channel
            )
        while journal:
            self._reconcile(journal.popleft())
        if self._recheck:
            recheck, self._recheck = self._recheck, []
            for reg in recheck:
                if reg.active:
                    self.mark(reg)

    def _switch_semantics(self, poll_semantics: bool) -> None:
        self.poll_semantics = poll_semantics
        self._write_bits = WRITE if poll_semantics else WRITE | PRI
        self._pri_bits = 0 if poll_semantics else PRI
        for reg in self._registrations.values():
            if reg.watch is not None:
                reg.watch.callback = self._callback_for(reg)
            if not reg.polled:
                self.mark(reg)

    def _callback_for(self, reg: Registration) -> Callable[[int], None]:
        if self.reactor.get_debug():
            return reg.on_poll_debug if self.poll_semantics else reg.on_select_debug
        return reg.on_poll if self.poll_semantics else reg.on_select

    def _reconcile(self, key: Any) -> None:
        obj = self.map.get(key)
        reg = self._registrations.get(key)
        if reg is not None:
            if reg.channel is obj:
                if reg.polled:
                    return
                self.mark(reg)
                return
            with self._lock:
                if reg.active:
                    self._remove(reg)
        if obj is not None:
            self._add(key, obj)

    def _add(self, key: Any, obj: Any) -> None:
        fd = _descriptor_of(key)
        reg = Registration(self, key, fd, obj)
        self._registrations[key] = reg
        self._classify(reg)
        if hasattr(obj, "_ng_registration"):
            obj._ng_registration = reg
        reg.watch = self.reactor.watch(fd, 0, self._callback_for(reg), propagate_errors=True)
        if not reg.polled:
            self.mark(reg)

    def _classify(self, reg: Registration) -> None:
        cls = type(reg.channel)
        verdict = self._verdicts.get(cls)
        if verdict is None:
            verdict = self._verdicts[cls] = _ClassVerdict(cls)
            self._verdicts_changed()
        if verdict.announced and not reg.channel._ng_overrides:  # (announced: our channel)
            reg.polled = False
            reg.verdict = verdict
            reg.rechecks = verdict.rechecks
            reg.bursts = bool(reg.channel.ng_bulk_input)
            verdict.registrations += 1
        else:
            reg.polled = True
            reg.rechecks = reg.bursts = False
            self._polled[reg.key] = reg

    def _unclassify(self, reg: Registration) -> None:
        verdict = reg.verdict
        reg.rechecks = reg.bursts = False
        if verdict is not None:
            reg.verdict = None
            verdict.registrations -= 1
            if verdict.registrations <= 0:
                for cls, v in list(self._verdicts.items()):
                    if v is verdict:
                        del self._verdicts[cls]
                self._verdicts_changed()

    def _verdicts_changed(self) -> None:
        announcing = [cls for cls, verdict in self._verdicts.items() if verdict.announced]
        self._announcing = announcing
        self._announcing_predicates = [self._verdicts[cls].predicates for cls in announcing]

    def _reclassify(self, cls: type) -> None:
        self._verdicts.pop(cls, None)
        self._verdicts_changed()
        for reg in list(self._registrations.values()):
            if type(reg.channel) is cls and reg.active:
                reg.verdict = None
                self._polled.pop(reg.key, None)
                self._classify(reg)
                if not reg.polled:
                    self.mark(reg)

    def _remove(self, reg: Registration) -> None:
        """Unregister ``reg`` (call with the lock held)."""
        if self._on_next_close:
            # A descriptor is about to be freed: listeners backing off may accept again.
            callbacks, self._on_next_close = self._on_next_close, []
            for callback in callbacks:
                self.reactor.call_soon(callback)
        reg.active = False
        key = reg.key
        if self._registrations.get(key) is reg:
            del self._registrations[key]
        if self._polled.get(key) is reg:
            del self._polled[key]
        self._unclassify(reg)
        if reg.wanted:
            reg.wanted = False
            self._wanting -= 1
        channel = reg.channel
        if getattr(channel, "_ng_registration", None) is reg:
            channel._ng_registration = None
        # Nothing of the engine may keep the channel alive once it left (the registration may
        # wait a little longer in the queue of predicate checks, as an empty shell).
        reg.channel = reg.filter = None
        if reg.watch is not None:
            reg.watch.cancel()

    def _update(self, reg: Registration) -> None:
        obj = reg.channel
        if obj is None:
            return  # removed meanwhile, by another thread
        readable = obj.readable()
        writable = obj.writable()
        if readable or writable:
            if not reg.wanted:
                reg.wanted = True
                self._wanting += 1
            if reg.filter is not None:
                readable, writable = reg.filter(readable, writable)
            # READ|PRI if readable; if writable, WRITE unless accepting, and with select
            # semantics PRI too (select's exceptfds held every channel asked about).
            events = READ | PRI if readable else 0
            if writable:
                events |= self._pri_bits if obj.accepting else self._write_bits
        else:
            if reg.wanted:
                reg.wanted = False
                self._wanting -= 1
            events = 0
        watch = reg.watch
        if watch is None or events == watch.events:
            return
        try:
            watch.modify(events)
        except (OSError, ValueError) as exc:
            # Closed behind the loop's back (EBADF) or not watchable (select's FD_SETSIZE): the
            # stdlib would fail the whole pass; we close just this channel, saying why.
            self.drop_broken(reg, f"its descriptor cannot be watched: {exc}")

    def drop_broken(self, reg: Registration, why: str) -> None:
        """A channel the loop cannot serve any more: say why, let it clean up, and make sure
        it is out of the map (its ``handle_close`` may not close, e.g. to flush first)."""
        with self._lock:
            if not reg.active:
                return  # another thread closed it meanwhile: nothing to say
            obj: Any = reg.channel
            self._remove(reg)
        logger.warning("closing %r: %s", obj, why)
        try:
            obj.handle_close()
            still_in_map = self.map.get(reg.key) is obj
            if still_in_map:
                obj.close()
        except PASSTHROUGH:
            raise
        except Exception:
            obj.handle_error()
        if self.map.get(reg.key) is obj:
            del self.map[reg.key]

    # -- passes --------------------------------------------------------------------------

    def run_passes(
        self, timeout: Optional[float], poll_semantics: bool, count: Optional[float], hooks: Any
    ) -> bool:
        """``loop()``'s body: passes until the map is empty, ``count`` ran, or a stop (then
        returns True: the stop request is consumed).

        One pass: bring interest in step, one reactor pass, and once a second the audit for
        sockets closed behind the loop's back (``run_one_pass`` repeats these steps for a
        ``poll()`` call: a change to them is made in both). The caller's ``hooks`` (a module) give the
        ``read``/``write``/``readwrite``/``select`` to use, looked up at dispatch time."""
        reactor = self.reactor
        map = self.map
        self.hooks = hooks
        poll_semantics = bool(poll_semantics)
        if count is None and reactor.waiter is not None and self._drivable(timeout, poll_semantics, hooks):
            # Another event loop does the waiting (ASYNCORE_NG_BACKEND=asyncio): it may run
            # the whole loop() as one run of its own, the passes in its callbacks, instead
            # of being entered and left for every pass. None: it cannot here (it is running).
            drive = getattr(reactor.waiter, "drive", None)
            stopped = drive(self, timeout, poll_semantics, hooks) if drive is not None else None
            if stopped is not None:
                if not map:
                    self._release()
                return bool(stopped)
        outer = reactor.enter()
        if self._announcing:
            self._check_verdicts()  # (a class patched since the last call: see there)
        # The wait of every pass, when the timeout is one the stdlib's select()/poll() took as
        # it is (else each pass converts it, raising what the stdlib raised: _select_wait).
        # (_plain_wait's first test written out: a poll() per call pays for each call.)
        if type(timeout) is float and 0.0 <= timeout <= MAX_WAIT:
            wait: Any = timeout
        else:
            wait = _plain_wait(timeout, poll_semantics)
        run_pass = reactor.run_pass
        select_module = hooks.select
        try:
            while map:
                if count is not None:
                    if not count > 0:
                        break
                    count = count - 1
                # (The stdlib looked select.poll/select.select up at call time: tests replace
                # them, and then see the calls, pass by pass.)
                if poll_semantics:
                    patched = select_module.poll is not _POLL
                else:
                    patched = select_module.select is not _SELECT
                if patched:
                    if poll_semantics:
                        _stdlib_poll2_pass(timeout, map, hooks, reactor)
                    else:
                        _stdlib_select_pass(timeout, map, hooks, reactor)
                else:
                    # (sync()'s own test, first: most passes have nothing for it. A class
                    # patched meanwhile is looked for when sync() runs, when loop() begins, and
                    # once a second: see _check_verdicts.)
                    if self._work or self._polled or self._plain or poll_semantics is not self.poll_semantics:
                        self.sync(poll_semantics)
                    if wait is _NOT_YET:
                        run_pass(_clamped(_select_wait(timeout, bool(self._wanting))))
                    else:
                        run_pass(wait)
                    if reactor.pass_time >= self._next_audit:
                        self._audit()
                if reactor.stop_requested:
                    reactor.consume_stop()
                    return True
        finally:
            reactor.leave(outer)
            if not map:
                self._release()
        return False

    def run_one_pass(self, timeout: Any, poll_semantics: bool, hooks: Any) -> None:
        """``run_passes(timeout, poll_semantics, 1, hooks)`` for a map that is not empty, the
        usual timeouts and select/poll not replaced (else it calls that): what ``poll()`` and
        ``poll2()`` run. Written out for one pass: a program that calls ``poll()`` per event
        (often with a map per call) pays these lines per event (through ``run_passes``, 4-6%
        more instructions per call). A change to the steps of a pass is made in both."""
        select_module = hooks.select
        if (
            not ((type(timeout) is float or type(timeout) is int) and 0 <= timeout <= MAX_WAIT)
            or select_module.select is not _SELECT
            or (poll_semantics and select_module.poll is not _POLL)
        ):
            self.run_passes(timeout, poll_semantics, 1, hooks)
            return
        reactor = self.reactor
        self.hooks = hooks
        outer = reactor.enter()
        try:
            if self._work or self._polled or self._plain or poll_semantics is not self.poll_semantics:
                self.sync(poll_semantics)  # (checks the verdicts too)
            elif self._announcing:
                self._check_verdicts()
            reactor.run_pass(timeout)
            if reactor.pass_time >= self._next_audit:
                self._audit()
            if reactor.stop_requested:
                reactor.consume_stop()
        finally:
            reactor.running_thread = outer  # (reactor.leave(outer))
            if not self.map:
                self._release()

    @staticmethod
    def _drivable(timeout: Any, poll_semantics: bool, hooks: Any) -> bool:
        """Whether ``loop()`` may be one run of another event loop: a valid finite timeout
        (invalid ones raise in the passes, as the stdlib's did) and no replaced select/poll
        (those are called pass by pass, with the program's timeout)."""
        if hooks.select.select is not _SELECT or (poll_semantics and hooks.select.poll is not _POLL):
            return False
        return type(timeout) in (int, float) and 0 <= timeout < math.inf

    def _release(self) -> None:
        # The map ended empty: registrations of channels removed by hand go, and the reactor
        # gives back its descriptors (a leak checker around loop() finds none of ours).
        with self._lock:
            for reg in list(self._registrations.values()):
                self._remove(reg)
        self._journal.clear()
        self._dirty.clear()
        self._recheck.clear()
        self.reactor.release_resources()

    def adopt(self, map: MapType) -> None:
        """Serve ``map`` (a plain dict) instead of the map the program let go of (see
        ``_sweep``): registrations of channels not in it under the same key go at once, the
        new map's other entries are registered on the next pass."""
        old = self.map
        self.map = map
        self.map_get = map.get
        if map == old:
            return  # (the same entries: a map per call, made alike each time)
        registrations = self._registrations
        with self._lock:
            for key, reg in list(registrations.items()):
                if map.get(key) is not reg.channel:
                    self._remove(reg)
        journal = self._journal
        journal.clear()
        if map.keys() != registrations.keys():
            journal.extend(map.keys() - registrations.keys())  # (registered on the next pass)
            self._work = True
        if not map:
            self._release()

    def _audit(self) -> None:
        """Drop channels whose socket was closed without ``close()``: epoll forgets a closed
        descriptor silently, so no event would ever come and ``loop()`` would never return.
        O(channels), once a second (about 1 ms for 10,000 channels). Looks at the descriptor,
        not the socket object: a socket detached into another object (``ssl.wrap_socket``)
        leaves the descriptor open, and the channel is served on."""
        self._next_audit = self.reactor.pass_time + AUDIT_INTERVAL
        self._check_verdicts()
        for reg in list(self._registrations.values()):
            if not reg.active:
                continue
            sock = getattr(reg.channel, "socket", None)
            try:
                fileno = sock.fileno() if sock is not None else reg.fd
            except Exception:
                fileno = -1
            if fileno == reg.fd:
                continue
            with self._lock:
                watch = reg.watch
                broken = reg.active and watch is not None and file_identity(reg.fd) != watch.identity
            if broken:
                self.drop_broken(reg, "its socket was closed without close()")

    @property
    def idle(self) -> bool:
        """An empty map with nothing scheduled."""
        return not self.map and not self.reactor.has_pending_work()

    def registrations(self) -> Dict[Any, int]:
        """``{key: events}`` as registered with the kernel (for tests and diagnostics)."""
        return {key: reg.watch.events for key, reg in self._registrations.items() if reg.watch is not None}

    def close(self) -> None:
        with self._lock:
            for reg in list(self._registrations.values()):
                self._remove(reg)
        self._journal.clear()
        self._dirty.clear()
        self._recheck.clear()
        self._on_next_close.clear()
        self.reactor.close()


# -- timeouts as the stdlib took them -------------------------------------------------------


def _select_wait(timeout: Any, anything_wanted: bool) -> Optional[float]:
    """The wait for a select-semantics pass. The stdlib called ``select.select(..., timeout)``,
    or ``time.sleep(timeout)`` when no channel was readable or writable: an invalid timeout
    raises exactly what that call raised (``None`` included, for ``sleep``; infinity too).
    A finite timeout too large for the system call works: the reactor clamps each wait."""
    if type(timeout) is float and 0.0 <= timeout < math.inf:
        return timeout
    if isinstance(timeout, (int, float)) and 0 <= timeout < math.inf:
        return float(timeout)  # (bool too: select() took True as 1 second)
    if timeout is None and anything_wanted:
        return None
    if anything_wanted:
        select.select([], [], [], timeout)  # raises (TypeError, ValueError) as the stdlib did
    else:
        time.sleep(timeout)  # likewise; a valid value cannot reach here
    return float(timeout)  # pragma: no cover  (a float subclass with odd comparisons)


def _plain_wait(timeout: Any, poll_semantics: bool) -> Any:
    """The wait every pass of ``loop()`` uses (clamped to a day: the pass recomputes), or
    ``_NOT_YET`` when each select-semantics pass must convert ``timeout`` itself (an invalid
    one raises there, as the stdlib's call did)."""
    if (type(timeout) is float or type(timeout) is int) and 0 <= timeout <= MAX_WAIT:
        return timeout  # (the usual timeout, valid both ways: poll semantics round it up)
    if poll_semantics:
        wait = _poll_wait(timeout)
    elif isinstance(timeout, (int, float)) and 0 <= timeout < math.inf:
        wait = float(timeout)
    else:
        return _NOT_YET
    return wait if wait is None or wait <= MAX_WAIT else MAX_WAIT


def _clamped(wait: Optional[float]) -> Optional[float]:
    return wait if wait is None or wait <= MAX_WAIT else MAX_WAIT


def _poll_wait(timeout: Any) -> Optional[float]:
    """The wait for a poll-semantics pass. The stdlib passed ``int(timeout * 1000)``
    milliseconds to ``poll()``: that conversion raises what it raised, and a negative result
    waited for ever. Positive timeouts are not truncated (0.0005 s is not a busy 0)."""
    if timeout is None:
        return None
    if int(timeout * 1000) < 0:
        return None
    return float(timeout)


# -- the stdlib's algorithm, for patched select/poll -----------------------------------------


def _stdlib_select_pass(timeout: Any, map: MapType, hooks: Any, reactor: Reactor) -> None:
    """One pass exactly as the stdlib made it, through ``hooks.select.select``: used when a
    test replaced ``select.select`` (it must see the calls). Timers still run."""
    r: List[Any] = []
    w: List[Any] = []
    e: List[Any] = []
    for fd, obj in list(map.items()):
        is_r = obj.readable()
        is_w = obj.writable()
        if is_r:
            r.append(fd)
        if is_w and not obj.accepting:
            w.append(fd)
        if is_r or is_w:
            e.append(fd)
    if not (r or w or e):
        hooks.time.sleep(timeout)
    else:
        r, w, e = hooks.select.select(r, w, e, timeout)
        for fds, dispatch in ((r, hooks.read), (w, hooks.write), (e, hooks._exception)):
            for fd in fds:
                obj = map.get(fd)
                if obj is not None:
                    dispatch(obj)
    reactor.run_due()


def _stdlib_poll2_pass(timeout: Any, map: MapType, hooks: Any, reactor: Reactor) -> None:
    """One poll-semantics pass exactly as the stdlib made it, through ``hooks.select.poll``."""
    if timeout is not None:
        timeout = int(timeout * 1000)
    pollster = hooks.select.poll()
    for fd, obj in list(map.items()):
        flags = 0
        if obj.readable():
            flags |= select.POLLIN | select.POLLPRI
        if obj.writable() and not obj.accepting:
            flags |= select.POLLOUT
        if flags:
            pollster.register(fd, flags)
    for fd, flags in pollster.poll(timeout):
        obj = map.get(fd)
        if obj is not None:
            hooks.readwrite(obj, flags)
    reactor.run_due()


# -- one binding per map -------------------------------------------------------------------

# Plain dicts cannot be weakly referenced nor carry an attribute: their bindings are found by
# id(map) and checked against the map itself (``binding.map is map``), in a registry that
# holds them. A binding must outlive the calls that use its map (its registrations are what
# keeps a pass O(active channels)), and must not outlive the map: programs make a map per
# call (``asyncore.poll(t, map={sock: self})``), and a binding per dead map would hold a
# reactor's descriptors each. So the registry asks: a plain dict that nothing but its binding
# refers to any more is one the program let go of (CPython counts references exactly; a
# channel's ``_map``, the program's own variable, a running ``loop()`` all count). Such a
# binding is *adopted* by the next plain map bound (its reactor, kernel objects and
# registrations serve the new map, reconciled with it: a throwaway map per call costs no new
# descriptor, and about what a pass costs), or closed (registrations dropped, reactor closed)
# when there is no new map to adopt it. The registry is swept so whenever a plain map is bound
# for the first time, and by ``close_all()``.
_plain_bindings: Dict[int, MapBinding] = {}
_registry_lock = threading.Lock()
_recent_plain: Optional[MapBinding] = None  # the plain binding last made or adopted (see bind)


class _RefProbe:
    map: Any = None
    map_get: Any = None


def _calibrate_sole_reference() -> Optional[int]:
    # What sys.getrefcount reports for a map that only its binding holds (as ``map`` and
    # through ``map_get``), read the way the sweep reads it (versions differ in how they count
    # arguments).
    getrefcount = getattr(sys, "getrefcount", None)
    if getrefcount is None:
        return None  # not CPython: bindings are never found dead (they live as long as the process)
    probe = _RefProbe()
    probe.map = {}
    probe.map_get = probe.map.get
    return int(getrefcount(probe.map))


_SOLE_REFERENCE = _calibrate_sole_reference()


def _unregister_plain(key: int) -> None:
    """Take a binding out of the registry (with ``_registry_lock`` held)."""
    global _recent_plain
    binding = _plain_bindings.pop(key, None)
    if binding is not None and binding is _recent_plain:
        _recent_plain = None


def _let_go(binding: MapBinding) -> bool:
    """Whether the program let go of the binding's plain map, and the binding is idle (no pass
    running, no timer or callback pending): it may be adopted or closed."""
    if _SOLE_REFERENCE is None or sys.getrefcount(binding.map) > _SOLE_REFERENCE:
        return False
    reactor = binding.reactor
    return reactor.running_thread is None and not reactor.has_pending_work()


def _sweep(adopter: Optional[MapType]) -> Optional[MapBinding]:
    """Close the bindings of plain maps the program let go of; with ``adopter`` (a plain map
    being bound), the first one found serves it instead and is returned. Call with
    ``_registry_lock`` held."""
    adopted: Optional[MapBinding] = None
    for key, binding in list(_plain_bindings.items()):
        if binding.reactor.closed:
            _unregister_plain(key)
        elif _let_go(binding):
            _unregister_plain(key)
            if adopter is not None and adopted is None and binding.own_reactor:
                binding.adopt(adopter)
                adopted = binding
            else:
                binding.close()
    return adopted


def sweep() -> None:
    """Close the bindings (and reactors) of plain maps the program let go of, now rather than
    when the next plain map is bound (a test that changes ``ASYNCORE_NG_BACKEND`` calls it, so
    that no later map is served by a reactor made for the old value)."""
    with _registry_lock:
        _sweep(None)


def release_dropped(binding: MapBinding) -> None:
    """Close ``binding`` and forget it if the program let go of its plain map (``_let_go``)."""
    with _registry_lock:
        if _plain_bindings.get(id(binding.map)) is binding and _let_go(binding):
            _unregister_plain(id(binding.map))
            binding.close()


def existing_binding(map: MapType) -> Optional[MapBinding]:
    """The map's binding if it has a live one (never creates)."""
    if isinstance(map, ChannelMap):
        binding = map._binding
    else:
        binding = _plain_bindings.get(id(map))
        if binding is not None and binding.map is not map:
            binding = None
    if binding is None or binding.reactor.closed:
        return None
    return binding


def bind(map: MapType, reactor: Optional[Reactor] = None) -> MapBinding:
    """The map's binding (and reactor), created on first use (and again if its reactor was
    closed explicitly); a new binding drives the map with ``reactor`` if one is given (a test
    choosing its backend), else with a reactor of its own."""
    if isinstance(map, ChannelMap):
        binding = map._binding
        if binding is None or binding.reactor.closed:
            binding = map._binding = MapBinding(map, reactor)
        return binding
    binding = _plain_bindings.get(id(map))
    if binding is not None and binding.map is map and not binding.reactor.closed:
        return binding
    return _bind_plain(map, reactor)


def _bind_plain(map: MapType, reactor: Optional[Reactor] = None) -> MapBinding:
    # bind() for a plain dict that has no live binding yet (as far as the caller saw).
    global _recent_plain
    key = id(map)
    with _registry_lock:
        binding = _plain_bindings.get(key)
        if binding is not None and binding.map is map and not binding.reactor.closed:
            return binding  # (bound by another thread meanwhile)
        # The usual case first: the map of the previous call was dropped (a map per call).
        # Its binding serves this one (_sweep looks at the others).
        binding = _recent_plain  # (registered, with a reactor of its own: see below)
        if binding is not None and reactor is None and not binding.reactor.closed and _let_go(binding):
            del _plain_bindings[id(binding.map)]
            binding.adopt(map)
            _plain_bindings[key] = binding
            return binding
        binding = (_sweep(map) if reactor is None else None) or MapBinding(map, reactor)
        _plain_bindings[key] = binding
        # (Only a binding that made its reactor may serve another map; _unregister_plain
        # forgets it when it leaves the registry.)
        _recent_plain = binding if binding.own_reactor and _SOLE_REFERENCE is not None else None
    return binding


def unbind(map: MapType) -> None:
    """Forget the map's binding and close its reactor; the next use makes new ones (on the
    backend chosen then: tests switch backends this way)."""
    binding = existing_binding(map)
    if binding is None:
        return
    binding.close()
    if isinstance(map, ChannelMap):
        map._binding = None
    else:
        with _registry_lock:
            if _plain_bindings.get(id(map)) is binding:
                _unregister_plain(id(map))


def channel_added(map: MapType, key: Any) -> None:
    """Called by ``add_channel``: a plain map's binding learns of it without a scan."""
    if not isinstance(map, ChannelMap):
        binding = existing_binding(map)
        if binding is not None:
            binding.note(key)


def get_reactor(map: Optional[MapType] = None) -> Reactor:
    """The reactor driving ``map`` (default: the default map), created on first use."""
    return bind(socket_map if map is None else map).reactor


def release(map: MapType) -> None:
    """Release the kernel objects of the map's reactor if the map is empty (the reactor
    itself stays usable: they come back on next use); close the bindings of other plain maps
    the program let go of."""
    binding = existing_binding(map)
    if binding is not None and not map:
        binding._release()
    if _plain_bindings:
        with _registry_lock:
            _sweep(None)


# -- asyncore's module-level functions -------------------------------------------------------

#: ``poll``/``poll2`` functions that ``loop()`` may run as engine passes (the shim adds its own).
_builtin_polls: Dict[Callable[..., Any], bool] = {}


def register_poll_functions(poll: Callable[..., Any], poll2: Callable[..., Any]) -> None:
    """Declare ``poll``/``poll2`` (of a module used as ``hooks``) as this engine's own, so that
    ``loop()`` runs them as engine passes unless a program replaced them."""
    _builtin_polls[poll] = False
    _builtin_polls[poll2] = True


def passes(map: MapType, timeout: Any, poll_semantics: bool, count: Optional[float], hooks: Any) -> None:
    """``count`` passes (``None``: until the map is empty or a stop) over ``map``, with poll or
    select semantics, the module-level functions looked up in ``hooks``: what ``loop()``,
    ``poll()`` and ``poll2()`` do once their arguments are settled. (The ``asyncore`` shim
    calls it directly: a ``poll()`` per call, with a map per call, is a common shape, and it
    costs what its calls cost.)"""
    if not map:
        if existing_binding(map) is not None:
            release(map)  # emptied by hand since the last pass: give its descriptors back
        return
    if isinstance(map, ChannelMap):
        binding = map._binding
        if binding is None or binding.reactor.closed:
            binding = bind(map)
    else:
        binding = _plain_bindings.get(id(map))
        if binding is None or binding.map is not map or binding.reactor.closed:
            binding = _bind_plain(map)
    if count == 1:
        binding.run_one_pass(timeout, poll_semantics, hooks)
    else:
        binding.run_passes(timeout, poll_semantics, count, hooks)



def poll(timeout: Optional[float] = 0.0, map: Optional[MapType] = None, *, hooks: Any = None) -> None:
    """One pass with select semantics."""
    passes(socket_map if map is None else map, timeout, False, 1, hooks or sys.modules[__name__])


def poll2(timeout: Optional[float] = 0.0, map: Optional[MapType] = None, *, hooks: Any = None) -> None:
    """One pass with poll semantics."""
    if map is None:
        map = socket_map
    if hooks is None:
        hooks = sys.modules[__name__]
    if not map and timeout is not None:
        int(timeout * 1000)  # the stdlib converted it first: an invalid timeout raises, as there
    passes(map, timeout, True, 1, hooks)


poll3 = poll2
register_poll_functions(poll, poll2)


def loop(
    timeout: Optional[float] = 30.0,
    use_poll: bool = False,
    map: Optional[MapType] = None,
    count: Optional[int] = None,
    *,
    hooks: Any = None,
) -> None:
    """Run passes until the map is empty, ``count`` passes have run, or the map's reactor is
    stopped (``get_reactor(map).stop()``, from any thread).

    ``hooks`` is the module whose ``poll``/``poll2``/``read``/``write``/``readwrite``/``select``
    are used, looked up as the stdlib looked them up (default: this module); a ``poll`` or
    ``poll2`` replaced by the program is called once per pass, as the stdlib's ``loop`` did."""
    if map is None:
        map = socket_map
    if hooks is None:
        hooks = sys.modules[__name__]
    poll_fun = hooks.poll2 if use_poll and hasattr(hooks.select, "poll") else hooks.poll
    poll_semantics = _builtin_polls.get(poll_fun)
    if poll_semantics is not None:
        passes(map, timeout, poll_semantics, count, hooks)
        return
    if count is None:
        while map:
            poll_fun(timeout, map)
    else:
        while map and count > 0:
            poll_fun(timeout, map)
            count = count - 1


def close_all(map: Optional[MapType] = None, ignore_all: bool = False) -> None:
    """Close every channel of ``map`` and empty it. ``EBADF`` from a ``close()`` is ignored,
    other errors propagate unless ``ignore_all``. The map's reactor stays usable."""
    if map is None:
        map = socket_map
    for x in list(map.values()):
        try:
            x.close()
        except OSError as exc:
            if exc.errno == errno.EBADF:
                pass
            elif not ignore_all:
                raise
        except PASSTHROUGH:
            raise
        except BaseException:
            if not ignore_all:
                raise
    map.clear()
    release(map)


__all__ = [
    "AUDIT_INTERVAL",
    "ChannelMap",
    "MapBinding",
    "Registration",
    "bind",
    "close_all",
    "get_reactor",
    "guarded_call",
    "loop",
    "poll",
    "poll2",
    "poll3",
    "read",
    "readwrite",
    "register_poll_functions",
    "release",
    "socket_map",
    "sweep",
    "unbind",
    "write",
]
