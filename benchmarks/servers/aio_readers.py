"""A prototype of the bridge mechanism asyncore_ng.aio did NOT choose, kept to measure it:
one asyncio reader/writer per channel (issue #11 asked for both to be measured; the figures
are in the README's design section and benchmarks/RESULTS.md).

The reactor gets a poller whose registrations are ``loop.add_reader``/``add_writer`` calls;
each callback runs a pass at once (as asyncio's own transports handle their events in their
callbacks), which takes the event with a zero-timeout ``poll`` and dispatches it as usual.
(Gathering the callbacks of an asyncio iteration into one later pass is not correct without
asking the kernel again: a callback queued in the same iteration as the pass that consumed the
data reports a readiness that is gone, and ``recv`` fails with EAGAIN; asking again costs a
system call per pass, the price the nested descriptor pays anyway.) What it cannot do is the reason it lost
before any measurement: asyncio's selector never asks for priority events (no ``handle_expt``:
the PRI bit is dropped here) and reports a hang-up or an error as "readable and writable", so
poll semantics never see POLLHUP/POLLERR. The echo benchmark needs neither.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Dict, List, Optional, Tuple

from asyncore_ng import aio
from asyncore_ng.loop import ChannelMap, MapBinding
from asyncore_ng.reactor import READ, WRITE, Reactor
from asyncore_ng.reactor.poller import Poller


class ReadersPoller(Poller):
    name = "asyncio-readers"

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.interest: Dict[int, int] = {}
        self.ready: Dict[int, int] = {}
        self.on_event: Optional[Callable[[], None]] = None

    def register(self, fd: int, events: int) -> None:
        old = self.interest.get(fd, 0)
        new = events & (READ | WRITE)  # PRI cannot be asked of asyncio's selectors
        if new & READ and not old & READ:
            self.loop.add_reader(fd, self._fire, fd, READ)
        elif old & READ and not new & READ:
            self.loop.remove_reader(fd)
        if new & WRITE and not old & WRITE:
            self.loop.add_writer(fd, self._fire, fd, WRITE)
        elif old & WRITE and not new & WRITE:
            self.loop.remove_writer(fd)
        self.interest[fd] = new

    modify = register

    def unregister(self, fd: int) -> None:
        old = self.interest.pop(fd, 0)
        if old & READ:
            self.loop.remove_reader(fd)
        if old & WRITE:
            self.loop.remove_writer(fd)
        self.ready.pop(fd, None)

    def poll(self, timeout: Optional[float]) -> List[Tuple[int, int]]:
        ready, self.ready = self.ready, {}
        return list(ready.items())

    def _fire(self, fd: int, bit: int) -> None:
        self.ready[fd] = self.ready.get(fd, 0) | bit
        if self.on_event is not None:
            self.on_event()

    def close(self) -> None:
        for fd in list(self.interest):
            self.unregister(fd)


class ReadersAttachment(aio.Attachment):
    """aio's attachment with the readers' poller: woken by the readers, not by a descriptor."""

    def _watch_poller(self) -> None:
        poller = self.reactor.poller
        assert isinstance(poller, ReadersPoller)
        poller.on_event = self._on_readable  # a pass now

    def _unwatch_poller(self) -> None:
        poller = self.reactor.poller
        assert isinstance(poller, ReadersPoller)
        poller.on_event = None

    def _poller_rebuilt(self) -> bool:
        return False


async def serve_with_readers(map: Any, use_poll: bool) -> None:
    loop = asyncio.get_running_loop()
    assert isinstance(map, ChannelMap)
    map._binding = MapBinding(map, Reactor(poller=ReadersPoller(loop)))
    attachment = ReadersAttachment(map, loop, use_poll, 30.0, until_empty=True)
    await attachment.finished
