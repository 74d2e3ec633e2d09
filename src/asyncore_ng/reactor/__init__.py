"""The reactor layer: a poller per platform, timers, wake-ups. Knows nothing of dispatchers."""

from __future__ import annotations

from .core import MAX_WAIT, ConcurrentPassError, Reactor, ReactorClosed, Watch, file_identity
from .poller import (
    ERR,
    HUP,
    NVAL,
    PRI,
    READ,
    WRITE,
    NotPollable,
    available_backends,
    environment_backend,
    make_poller,
    resolve_backend,
)
from .timers import TimerHandle

__all__ = [
    "ERR",
    "HUP",
    "MAX_WAIT",
    "NVAL",
    "PRI",
    "READ",
    "WRITE",
    "ConcurrentPassError",
    "NotPollable",
    "Reactor",
    "ReactorClosed",
    "TimerHandle",
    "Watch",
    "available_backends",
    "environment_backend",
    "file_identity",
    "make_poller",
    "resolve_backend",
]
