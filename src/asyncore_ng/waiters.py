"""Event-loop backends: other event loops that can do the reactor's waiting.

``ASYNCORE_NG_BACKEND`` names either a poller backend (``epoll``, ``poll``, ``select``: the
reactor waits in the kernel itself) or an event-loop backend (``asyncio``, ``uvloop``: the
reactor's poller is nested in another event loop, which does the waiting, so that loop's own
work runs in the same thread). The integrations that provide the second kind sit above the
channels (``asyncore_ng.aio``), and the reactor must not import them; so they are found here,
by name. This module is a leaf (it imports nothing of ours): the package's ``__init__``
registers one factory per name, and the factory imports its integration only when called.

A *waiter*, as a factory returns it, has three methods:

* ``wait(poller, timeout)``: what ``poller.poll(timeout)`` would return, having let the other
  loop run meanwhile (``timeout`` in seconds, ``None`` for ever, ``0`` for one turn without
  blocking);
* ``release()``: give back the descriptors it holds (the reactor is idle; it may be used
  again);
* ``close()``: the same, for good.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List

WaiterFactory = Callable[[str], Any]

_factories: Dict[str, WaiterFactory] = {}


def register(name: str, factory: WaiterFactory) -> None:
    """Make ``name`` an event-loop backend: ``factory(name)`` returns its waiter (or raises,
    saying why it cannot, e.g. a missing optional package)."""
    _factories[name] = factory


def names() -> List[str]:
    """The event-loop backends registered, in registration order."""
    return list(_factories)


def make(name: str) -> Any:
    """A new waiter for the event-loop backend ``name``. ``ValueError`` if there is none."""
    factory = _factories.get(name)
    if factory is None:
        raise ValueError(f"unknown event-loop backend {name!r}; have {names()}")
    return factory(name)


__all__ = ["WaiterFactory", "make", "names", "register"]
