"""asyncore's loop semantics over the reactor: the map, the per-pass interest sync, dispatch.

The map stays what asyncore documents: a dict from descriptor to channel, which code reads,
fills and empties by hand. Each map gets one :class:`MapBinding` (and through it one
:class:`~asyncore_ng.reactor.Reactor`), which keeps a kernel registration per descriptor and, on
each pass, changes only what changed:

* map changes: the default map is a :class:`ChannelMap`, a dict that notes which descriptors
  changed; for a plain dict passed as ``map=``, ``add_channel``/``del_channel`` report changes,
  and a C-speed comparison of the key sets catches entries added or removed by hand.
* predicates: asked of the channels that called ``interest_changed()`` (the library's own
  predicates do it through the state they read: ``connected``, ``accepting``, ``out_buffer``,
  ``producer_fifo``), and of every channel whose class overrides ``readable``/``writable``
  without marking them ``state_predicate`` (asked every pass, exactly as the stdlib does; code
  such as waitress uses ``readable()`` as a per-pass tick).

So a pass costs O(active channels + polled channels), not O(all channels).

Semantics. ``use_poll=False`` (select semantics): interest READ if readable, WRITE if writable
and not accepting, PRI (exceptional conditions) if either; dispatch ``read``, then ``write``,
then ``_exception``, skipping a step once the channel left the map; an error or hang-up counts
as readable and writable, as select(2) reports it. ``use_poll=True`` (poll semantics): READ|PRI
if readable, WRITE if writable and not accepting; the raw bits go to ``readwrite()``, which
closes the channel on hang-up or error. The backend underneath is the same either way.
"""

from __future__ import annotations

import errno
import logging
import os
import select
from collections import deque
from typing import Any, Deque, Dict, List, Optional, Tuple

from .dispatcher import Dispatcher, predicates_are_stateful
from .errnos import DISCONNECTED
from .exceptions import PASSTHROUGH
from .reactor import ERR, HUP, NVAL, PRI, READ, WRITE, Reactor

logger = logging.getLogger("asyncore_ng")

# Bits that count as "readable" under select semantics (select reports errors and hang-ups as
# readable), and everything else; folded once, since the dispatch below is the hottest code.
_READABLE = READ | ERR | HUP
_NOT_READ = ~READ

MapType = Dict[Any, Any]

#: Seconds between two audits of a map for sockets closed behind the loop's back.
AUDIT_INTERVAL = 1.0


class ChannelMap(Dict[Any, Any]):
    """A ``dict`` that remembers which keys changed since the loop last looked.

    Behaves as a plain dict in every way; the loop uses the note to keep its kernel
    registrations in step in O(changes). A change made from another thread wakes the loop.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A deque, not a set: appends and pops stay O(1) (a set drained of many keys keeps its
        # large table, and each later pop scans it), and both are atomic across threads.
        self._changed: Deque[Any] = deque(self)
        self._binding: Optional[MapBinding] = None

    def _note(self, key: Any) -> None:
        self._changed.append(key)
        binding = self._binding
        if binding is not None:
            binding.reactor._maybe_wake()

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
        self._changed.extend(self)
        dict.clear(self)
        if self._binding is not None:
            self._binding.reactor._maybe_wake()


#: The default map (asyncore's ``socket_map``).
socket_map: ChannelMap = ChannelMap()


class _Entry:
    """What the binding knows of one channel in the map; its methods are the watch callbacks."""

    __slots__ = ("active", "binding", "dirty", "fd", "obj", "polled", "watch")

    def __init__(self, binding: MapBinding, fd: Any, obj: Any, polled: bool) -> None:
        self.binding = binding
        self.fd = fd
        self.obj = obj
        self.polled = polled
        self.active = True
        self.dirty = False  # queued for a predicate check
        self.watch: Any = None

    # The dispatch callbacks. No predicate check is queued after a dispatch: a channel with
    # marked predicates announces its changes (the state they read notifies on assignment), and
    # one without is asked every pass anyway.

    def on_select(self, bits: int) -> None:
        """Dispatch with select semantics: read, write, exceptional, each skipped once the
        channel has left the map (a handler may close it)."""
        obj = self.obj
        interest = self.watch.events
        if bits & _READABLE and interest & READ:
            try:  # read(obj), inlined: this is the hottest line of the library
                obj.handle_read_event()
            except PASSTHROUGH:
                raise
            except BaseException:
                obj.handle_error()
        if bits & _NOT_READ:
            in_map = self.binding.map.get
            fd = self.fd
            if bits & (WRITE | ERR | HUP) and interest & WRITE and in_map(fd) is obj:
                write(obj)
            if bits & PRI and in_map(fd) is obj:
                _exception(obj)
            if bits & NVAL and in_map(fd) is obj:
                readwrite(obj, NVAL)

    def on_poll(self, bits: int) -> None:
        """Dispatch with poll semantics: the raw bits go to ``readwrite``."""
        readwrite(self.obj, bits)


_stateful_types: Dict[type, bool] = {}


def _is_stateful(obj: Any) -> bool:
    cls = type(obj)
    known = _stateful_types.get(cls)
    if known is None:
        known = _stateful_types[cls] = (
            isinstance(obj, Dispatcher)
            and predicates_are_stateful(cls)
            # a class attribute shadowing the notifying properties would hide assignments
            and cls.connected is Dispatcher.connected
            and cls.accepting is Dispatcher.accepting
        )
    return known


class MapBinding:
    """One map, its reactor, and the registrations kept in step with the map."""

    def __init__(self, map: MapType, reactor: Optional[Reactor] = None) -> None:
        self.map = map
        self.reactor = reactor if reactor is not None else Reactor()
        self.pid = os.getpid()
        self.poll_semantics = False
        self._entries: Dict[Any, _Entry] = {}
        self._polled: Dict[Any, _Entry] = {}
        self._dirty: Deque[_Entry] = deque()  # entries whose predicates to ask; see _Entry.dirty
        self._exhausted_listeners: List[Dispatcher] = []
        self._next_audit = 0.0
        if isinstance(map, ChannelMap):
            self._journal = map._changed
            self._journal.extend(map)
            self._plain = False
        else:
            self._journal = deque(map)
            self._plain = True

    # -- told by channels ----------------------------------------------------------------

    def note(self, fd: Any) -> None:
        """A channel was added to or removed from the map under ``fd``."""
        self._journal.append(fd)
        self.reactor._maybe_wake()

    def mark(self, entry: _Entry) -> None:
        """The channel's predicates may answer differently: ask them before the next wait."""
        if not entry.dirty:
            entry.dirty = True
            self._dirty.append(entry)
        self.reactor._maybe_wake()

    def resume_on_close(self, listener: Dispatcher) -> None:
        """``listener`` ran out of descriptors: resume it when any channel of this map closes."""
        self._exhausted_listeners.append(listener)

    def forget(self, entry: _Entry) -> None:
        """The channel is leaving the map: unregister it now (before its socket closes)."""
        if entry.active and self._entries.get(entry.fd) is entry:
            self._remove(entry)
        self._journal.append(entry.fd)

    # -- keeping registrations in step ---------------------------------------------------

    def sync(self, poll_semantics: bool) -> None:
        """Bring kernel interest in line with the map and the predicates, before a wait."""
        if poll_semantics != self.poll_semantics:
            self.poll_semantics = poll_semantics
            for entry in self._entries.values():
                entry.watch.callback = entry.on_poll if poll_semantics else entry.on_select
                self.mark(entry)
        journal = self._journal
        if self._plain and self.map.keys() != self._entries.keys():
            journal.extend(self.map.keys() ^ self._entries.keys())
        # Predicates may add or close channels (as a per-pass tick does): repeat until stable,
        # with a bound so a predicate that always adds something cannot hold the loop here.
        for _ in range(8):
            while journal:
                self._reconcile(journal.popleft())
            if self._polled:
                for entry in list(self._polled.values()):
                    if entry.active:
                        self._update(entry)
            dirty = self._dirty
            while dirty:
                entry = dirty.popleft()
                entry.dirty = False  # before asking: a concurrent mark() then queues it again
                if entry.active and not entry.polled:
                    self._update(entry)
            if not journal:
                break

    def _reconcile(self, fd: Any) -> None:
        obj = self.map.get(fd)
        entry = self._entries.get(fd)
        if entry is not None:
            if entry.obj is obj:
                self.mark(entry)
                return
            self._remove(entry)
        if obj is not None:
            self._add(fd, obj)

    def _add(self, fd: Any, obj: Any) -> None:
        entry = _Entry(self, fd, obj, polled=not _is_stateful(obj))
        self._entries[fd] = entry
        if entry.polled:
            self._polled[fd] = entry
        else:
            self.mark(entry)
        if isinstance(obj, Dispatcher):
            obj._entry = entry
        entry.watch = self.reactor.watch(fd, 0, entry.on_poll if self.poll_semantics else entry.on_select)

    def _remove(self, entry: _Entry) -> None:
        if self._exhausted_listeners:
            # A descriptor is about to be freed: listeners backing off may accept again.
            listeners, self._exhausted_listeners = self._exhausted_listeners, []
            for listener in listeners:
                if listener is not entry.obj:
                    self.reactor.call_soon(listener._resume_accepting)
        entry.active = False
        fd = entry.fd
        if self._entries.get(fd) is entry:
            del self._entries[fd]
        if self._polled.get(fd) is entry:
            del self._polled[fd]
        if getattr(entry.obj, "_entry", None) is entry:
            entry.obj._entry = None
        if entry.watch is not None:
            entry.watch.cancel()

    def _update(self, entry: _Entry) -> None:
        obj = entry.obj
        readable = obj.readable() and not getattr(obj, "_reading_paused", False)
        writable = obj.writable()
        events = 0
        if readable:
            events = READ | PRI if self.poll_semantics else READ
        if writable and not obj.accepting:
            events |= WRITE
        if (readable or writable) and not self.poll_semantics:
            events |= PRI  # select's exceptfds holds every channel asked about
        if events == entry.watch.events:
            return
        try:
            entry.watch.modify(events)
        except (OSError, ValueError) as exc:
            # Closed behind the loop's back (EBADF) or not watchable (select's FD_SETSIZE): the
            # stdlib would fail the whole pass; we close just this channel, saying why.
            self._drop_broken(
                entry, OSError(getattr(exc, "errno", None), f"its descriptor cannot be watched: {exc}")
            )

    def _drop_broken(self, entry: _Entry, exc: OSError) -> None:
        """A channel the loop cannot serve any more: say why, let it clean up, and make sure
        it is out of the map (its ``handle_close`` may not close, e.g. to flush first)."""
        obj: Any = entry.obj
        logger.warning("closing %r: %s", obj, exc)
        self._remove(entry)
        try:
            obj.handle_close()
            if self.map.get(entry.fd) is entry.obj:
                obj.close()
        except PASSTHROUGH:
            raise
        except Exception:
            obj.handle_error()
        if self.map.get(entry.fd) is obj:
            del self.map[entry.fd]

    # -- one asyncore pass -----------------------------------------------------------------

    def run_passes(self, timeout: Optional[float], poll_semantics: bool, count: Optional[int]) -> None:
        """``loop()``'s body: passes until the map is empty, ``count`` ran, or a stop.

        One pass: bring interest in step (skipped when nothing can have changed), one reactor
        pass, and once a second the audit for sockets closed behind the loop's back."""
        reactor = self.reactor
        run_once = reactor.run_once
        sync = self.sync
        map = self.map
        while map and not reactor._stopping:
            if count is not None:
                if count <= 0:
                    break
                count -= 1
            if (
                poll_semantics != self.poll_semantics
                or self._journal
                or self._dirty
                or self._polled
                or self._plain
            ):
                sync(poll_semantics)
            run_once(timeout)
            if reactor.pass_time >= self._next_audit:
                self._audit()

    def _audit(self) -> None:
        """Drop channels whose socket was closed without ``close()``: epoll forgets a closed
        descriptor silently, so no event would ever come and ``loop()`` would never return.
        O(channels), once a second (about 1 ms for 10,000 channels)."""
        self._next_audit = self.reactor.pass_time + AUDIT_INTERVAL
        for entry in list(self._entries.values()):
            sock = getattr(entry.obj, "socket", None)
            if sock is None or not entry.active:
                continue
            try:
                fileno = sock.fileno()
            except Exception:
                fileno = -1
            if fileno != entry.fd:
                self._drop_broken(entry, OSError(errno.EBADF, "its socket was closed without close()"))

    @property
    def idle(self) -> bool:
        """An empty map with nothing scheduled: its reactor can be closed without loss."""
        return not self.map and not self.reactor.has_pending_work()

    def registrations(self) -> Dict[Any, int]:
        """``{fd: events}`` as registered with the kernel (for tests and diagnostics)."""
        return {fd: e.watch.events for fd, e in self._entries.items()}

    def close(self) -> None:
        for entry in list(self._entries.values()):
            self._remove(entry)
        self.reactor.close()


# -- one binding per map -------------------------------------------------------------------

_plain_bindings: Dict[int, MapBinding] = {}
_PLAIN_BINDINGS_KEPT = 32


def existing_binding(map: MapType) -> Optional[MapBinding]:
    """The map's binding if it has a live one (never creates)."""
    if isinstance(map, ChannelMap):
        binding = map._binding
    else:
        binding = _plain_bindings.get(id(map))
        if binding is not None and binding.map is not map:
            binding = None
    if binding is None or binding.reactor.closed or binding.pid != os.getpid():
        return None
    return binding


def bind(map: MapType) -> MapBinding:
    """The map's binding (and reactor), created on first use and after a fork."""
    binding = existing_binding(map)
    if binding is not None:
        return binding
    stale = map._binding if isinstance(map, ChannelMap) else _plain_bindings.get(id(map))
    if stale is not None and stale.pid != os.getpid():
        stale.reactor.close()  # the parent's epoll and pipe: this process's copies only
    binding = MapBinding(map)
    if isinstance(map, ChannelMap):
        map._binding = binding
    else:
        if len(_plain_bindings) >= _PLAIN_BINDINGS_KEPT:
            _evict_idle_plain_bindings()
        _plain_bindings[id(map)] = binding
    return binding


def _evict_idle_plain_bindings() -> None:
    for key, binding in list(_plain_bindings.items()):
        if binding.idle:
            del _plain_bindings[key]
            binding.close()


def release(map: MapType) -> None:
    """Close the map's reactor if nothing is scheduled on it; the next use makes a new one."""
    binding = existing_binding(map)
    if binding is None or not binding.idle:
        return
    binding.close()
    if isinstance(map, ChannelMap):
        map._binding = None
    else:
        _plain_bindings.pop(id(map), None)


def channel_added(map: MapType, obj: Dispatcher) -> None:
    """Called by ``add_channel``: a plain map's binding learns of it without a scan."""
    if not isinstance(map, ChannelMap):
        binding = existing_binding(map)
        if binding is not None:
            binding.note(obj._fileno)


def get_reactor(map: Optional[MapType] = None) -> Reactor:
    """The reactor driving ``map`` (default: the default map), created on first use."""
    return bind(socket_map if map is None else map).reactor


# -- asyncore's module-level functions -----------------------------------------------------


def read(obj: Any) -> None:
    try:
        obj.handle_read_event()
    except PASSTHROUGH:
        raise
    except BaseException:
        obj.handle_error()


def write(obj: Any) -> None:
    try:
        obj.handle_write_event()
    except PASSTHROUGH:
        raise
    except BaseException:
        obj.handle_error()


def _exception(obj: Any) -> None:
    try:
        obj.handle_expt_event()
    except PASSTHROUGH:
        raise
    except BaseException:
        obj.handle_error()


def readwrite(obj: Any, flags: int) -> None:
    try:
        if flags & select.POLLIN:
            obj.handle_read_event()
        if flags & select.POLLOUT:
            obj.handle_write_event()
        if flags & select.POLLPRI:
            obj.handle_expt_event()
        if flags & (select.POLLHUP | select.POLLERR | select.POLLNVAL):
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


def poll(timeout: Optional[float] = 0.0, map: Optional[MapType] = None) -> None:
    """One pass with select semantics."""
    if map is None:
        map = socket_map
    if map:
        bind(map).run_passes(timeout, False, 1)


def poll2(timeout: Optional[float] = 0.0, map: Optional[MapType] = None) -> None:
    """One pass with poll semantics."""
    if map is None:
        map = socket_map
    if map:
        bind(map).run_passes(timeout, True, 1)


poll3 = poll2


def loop(
    timeout: Optional[float] = 30.0,
    use_poll: bool = False,
    map: Optional[MapType] = None,
    count: Optional[int] = None,
) -> None:
    """Run passes until the map is empty, ``count`` passes have run, or the map's reactor is
    stopped (``get_reactor(map).stop()``, from any thread)."""
    if map is None:
        map = socket_map
    if not map:
        return
    binding = bind(map)
    reactor = binding.reactor
    poll_semantics = bool(use_poll) and hasattr(select, "poll")
    reactor.clear_stop()
    try:
        binding.run_passes(timeout, poll_semantics, count)
    finally:
        reactor.clear_stop()


def close_all(map: Optional[MapType] = None, ignore_all: bool = False) -> None:
    if map is None:
        map = socket_map
    for x in list(map.values()):
        try:
            x.close()
        except OSError as x:
            if x.errno == errno.EBADF:  # already closed
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
