"""The reactor layer: a poller per platform, timers, wake-ups. Knows nothing of dispatchers."""

from __future__ import annotations

from .core import Reactor, Watch
from .poller import ERR, HUP, NVAL, PRI, READ, WRITE, NotPollable, available_backends, make_poller
from .timers import TimerHandle

__all__ = [
    "ERR",
    "HUP",
    "NVAL",
    "PRI",
    "READ",
    "WRITE",
    "NotPollable",
    "Reactor",
    "TimerHandle",
    "Watch",
    "available_backends",
    "make_poller",
]
