"""The thin poller layer: one small class per kernel interface, all speaking poll(2) flags.

Why not ``selectors``: it never asks for priority (out-of-band) events, so ``handle_expt``
could not fire, and it folds hang-up and error into "readable and writable", while asyncore's
``readwrite()`` and its poll semantics need the raw flags. So each backend here registers
READ, WRITE and PRI interest and reports what the kernel said, in poll(2) bits, which are
also epoll's bits on Linux. Nothing above this module branches on the backend.

Every backend keeps registrations persistent (register once, ``modify`` on change) and is
tolerant in the ways a reactor needs: registering a known descriptor modifies it, modifying an
unknown one registers it, unregistering a gone one is a no-op. A descriptor the kernel cannot
poll (a regular file under epoll) raises ``NotPollable``; the reactor treats those as always
ready, which is what poll(2) and select(2) report for regular files.
"""

from __future__ import annotations

import errno
import math
import os
import select
from typing import Dict, List, Optional, Set, Tuple

from .. import waiters

READ = 0x001  # POLLIN
PRI = 0x002  # POLLPRI: out-of-band data
WRITE = 0x004  # POLLOUT
ERR = 0x008  # POLLERR (reported, never requested)
HUP = 0x010  # POLLHUP (reported, never requested)
NVAL = 0x020  # POLLNVAL: the descriptor is not open (poll backend only)

INTEREST_MASK = READ | PRI | WRITE
REPORTED_MASK = READ | PRI | WRITE | ERR | HUP | NVAL

Events = List[Tuple[int, int]]


class NotPollable(OSError):
    """The descriptor cannot be watched by this backend (a regular file under epoll)."""


class Poller:
    """Interface of a backend. ``timeout`` is in seconds; ``None`` waits for ever."""

    name = "abstract"
    #: Whether a kernel registration can outlive its descriptor number (epoll: it belongs to
    #: the open file, which a dup or a forked child may keep open). See the reactor's notes.
    registrations_outlive_numbers = False

    def register(self, fd: int, events: int) -> None:
        raise NotImplementedError

    def modify(self, fd: int, events: int) -> None:
        raise NotImplementedError

    def unregister(self, fd: int) -> None:
        """Stop watching ``fd``. Unknown descriptors are ignored; ``OSError(EBADF)`` means the
        number is closed while the kernel may still hold a registration for its file."""
        raise NotImplementedError

    def poll(self, timeout: Optional[float]) -> Events:
        raise NotImplementedError

    def close(self) -> None:
        """Release the kernel object, if any. Idempotent."""

    def holds_registration(self, fd: int, inode: Optional[int] = None) -> Optional[bool]:
        """Whether the kernel still holds a registration under the number ``fd`` (of the file
        with ``inode``, if given), for a number that no longer names the file we registered;
        ``None`` when it cannot tell."""
        return None

    def fileno(self) -> Optional[int]:
        """A descriptor that polls readable while any registered descriptor has an event, so
        that another event loop can wait for this poller (``asyncore_ng.aio``); ``None`` when
        the backend has none (poll and select keep no kernel object)."""
        return None


if hasattr(select, "epoll"):

    class EpollPoller(Poller):
        """Linux epoll, level-triggered (asyncore's contract is level-triggered)."""

        name = "epoll"
        registrations_outlive_numbers = True

        def __init__(self) -> None:
            self._epoll = select.epoll()
            # epoll.poll itself: seconds (a float is rounded up to whole milliseconds, so a
            # small positive timeout never turns into a busy 0), None for ever. (No method of
            # ours in between: it is called once per loop pass.)
            self.poll = self._epoll.poll  # type: ignore[method-assign]

        def register(self, fd: int, events: int) -> None:
            try:
                self._epoll.register(fd, events & INTEREST_MASK)
            except FileExistsError:
                self._epoll.modify(fd, events & INTEREST_MASK)
            except PermissionError as exc:
                raise NotPollable(exc.errno, "epoll cannot watch this descriptor", fd) from None

        def modify(self, fd: int, events: int) -> None:
            # ENOENT propagates: the kernel dropped the registration when the file's last
            # descriptor closed, so whatever the number names now is not what we watched.
            self._epoll.modify(fd, events & INTEREST_MASK)

        def unregister(self, fd: int) -> None:
            # ENOENT: the kernel already dropped it (every descriptor of the file closed).
            # EBADF propagates: the number is closed, but if the file is still open through a
            # dup the registration lives on, and only the reactor can decide to rebuild.
            try:
                self._epoll.unregister(fd)
            except FileNotFoundError:
                pass

        def close(self) -> None:
            self._epoll.close()

        def fileno(self) -> Optional[int]:
            # An epoll instance is itself pollable: readable while its ready list is not empty.
            return self._epoll.fileno()

        def holds_registration(self, fd: int, inode: Optional[int] = None) -> Optional[bool]:
            # Linux lists an epoll instance's registrations in /proc, one line each:
            # "tfd: N events: E data: D pos: P ino: I sdev: S" (the inode in hexadecimal).
            try:
                with open(f"/proc/self/fdinfo/{self._epoll.fileno()}") as info:
                    lines = info.read().splitlines()
            except (OSError, ValueError):
                return None
            for line in lines:
                fields = line.replace(":", " ").split()
                if fields[:2] != ["tfd", str(fd)]:
                    continue
                if inode is None or "ino" not in fields:
                    return True
                if int(fields[fields.index("ino") + 1], 16) == inode:
                    return True
            return False


if hasattr(select, "poll"):

    class PollPoller(Poller):
        """poll(2). Reports POLLNVAL for a descriptor closed while registered."""

        name = "poll"

        def __init__(self) -> None:
            self._poll = select.poll()
            self._fds: Set[int] = set()

        def register(self, fd: int, events: int) -> None:
            self._poll.register(fd, events & INTEREST_MASK)
            self._fds.add(fd)

        modify = register

        def unregister(self, fd: int) -> None:
            if fd in self._fds:
                self._fds.discard(fd)
                try:
                    self._poll.unregister(fd)
                except KeyError:
                    pass

        def poll(self, timeout: Optional[float]) -> Events:
            # poll(2) takes milliseconds: round up, or a 0.4 ms timeout becomes a busy loop.
            ms = None if timeout is None else math.ceil(timeout * 1000.0)
            return self._poll.poll(ms)


class SelectPoller(Poller):
    """select(2): portable, but limited to descriptors below FD_SETSIZE (1024 on Linux).

    It is never the default where poll or epoll exist; it is here for platforms without them and
    so the behaviour suite can run on it. A descriptor closed behind our back makes the whole
    select() call fail with EBADF; the culprits are then found one by one and reported as NVAL.
    """

    name = "select"
    fd_setsize = 1024

    def __init__(self) -> None:
        self._interest: Dict[int, int] = {}

    def register(self, fd: int, events: int) -> None:
        if fd >= self.fd_setsize:
            raise ValueError(
                f"descriptor {fd} is out of range for select() (FD_SETSIZE {self.fd_setsize}); "
                "use the poll or epoll backend"
            )
        self._interest[fd] = events & INTEREST_MASK

    modify = register

    def unregister(self, fd: int) -> None:
        self._interest.pop(fd, None)

    def poll(self, timeout: Optional[float]) -> Events:
        items = self._interest.items()
        r = [fd for fd, ev in items if ev & READ]
        w = [fd for fd, ev in items if ev & WRITE]
        x = [fd for fd, ev in items if ev & PRI]
        try:
            rr, ww, xx = select.select(r, w, x, timeout)
        except OSError as exc:
            if exc.errno != errno.EBADF:
                raise
            return self._find_closed()
        flags: Dict[int, int] = {}
        for fd in rr:
            flags[fd] = READ
        for fd in ww:
            flags[fd] = flags.get(fd, 0) | WRITE
        for fd in xx:
            flags[fd] = flags.get(fd, 0) | PRI
        return list(flags.items())

    def _find_closed(self) -> Events:
        closed = []
        for fd in list(self._interest):
            try:
                os.fstat(fd)
            except OSError:
                closed.append((fd, NVAL))
        return closed


def available_backends() -> List[str]:
    """Names accepted by :func:`make_poller`, best first."""
    names = []
    if hasattr(select, "epoll"):
        names.append("epoll")
    if hasattr(select, "poll"):
        names.append("poll")
    names.append("select")
    return names


def resolve_backend(name: Optional[str] = None) -> str:
    """The backend :func:`make_poller` would use for ``name``: the name itself if available,
    the best one when ``None``. ``ValueError`` for an unknown or unavailable name.

    The environment variable ``ASYNCORE_NG_BACKEND`` overrides the default choice (tests run the
    same behaviour suite over every backend with it). It may also name an event-loop backend
    (see :func:`environment_backend`): the poller underneath is then the best one.
    """
    return environment_backend(name)[0]


def environment_backend(name: Optional[str] = None) -> Tuple[str, Optional[str]]:
    """``(poller backend, event-loop backend or None)`` for ``name``, or when ``None`` for the
    environment variable ``ASYNCORE_NG_BACKEND`` (unset or empty: the best poller).

    An event-loop backend (``asyncio``, ``uvloop``: see :mod:`asyncore_ng.waiters`) means the
    best poller, waited for through that loop. ``ValueError`` names what is available.
    """
    if name is None:
        name = os.environ.get("ASYNCORE_NG_BACKEND") or available_backends()[0]
    if name in available_backends():
        return name, None
    if name in waiters.names():
        return available_backends()[0], name
    have = ", ".join(available_backends() + waiters.names())
    raise ValueError(f"unknown or unavailable backend {name!r} (ASYNCORE_NG_BACKEND); have {have}")


def make_poller(name: Optional[str] = None) -> Poller:
    """A new poller: ``name`` from :func:`available_backends`, or the best one when ``None``
    (see :func:`resolve_backend`)."""
    name = resolve_backend(name)
    if name == "epoll":
        return EpollPoller()
    if name == "poll":
        return PollPoller()
    return SelectPoller()
