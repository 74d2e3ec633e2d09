"""asyncore-ng: the asyncore/asynchat API on a modern reactor.

Layers, dependencies pointing down:

* ``asyncore`` / ``asynchat`` (top-level shims): the stdlib's names and quirks.
* ``asyncore_ng.dispatcher``, ``asyncore_ng.channels``: channels and asyncore's loop
  semantics.
* ``asyncore_ng.reactor``: poller, timers, wake-ups; knows nothing of channels.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._install import install, shim_status
from .exceptions import ExitNow

if TYPE_CHECKING:
    from .channels import (
        ChannelMap,
        close_all,
        get_reactor,
        loop,
        poll,
        poll2,
        read,
        readwrite,
        socket_map,
        write,
    )
    from .dispatcher import (
        Dispatcher,
        DispatcherWithSend,
        FileDispatcher,
        FileWrapper,
        compact_traceback,
        state_predicate,
    )
    from .reactor import Reactor, TimerHandle, Watch

# Imported on first use (PEP 562), so `import asyncore_ng.reactor` loads the reactor layer only.
_LAZY = {
    **dict.fromkeys(
        [
            "ChannelMap",
            "close_all",
            "get_reactor",
            "loop",
            "poll",
            "poll2",
            "read",
            "readwrite",
            "socket_map",
            "write",
        ],
        ".channels",
    ),
    **dict.fromkeys(
        [
            "Dispatcher",
            "DispatcherWithSend",
            "FileDispatcher",
            "FileWrapper",
            "compact_traceback",
            "state_predicate",
        ],
        ".dispatcher",
    ),
    **dict.fromkeys(["Reactor", "TimerHandle", "Watch"], ".reactor"),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


__version__ = "0.1.0"

__all__ = [
    "ChannelMap",
    "Dispatcher",
    "DispatcherWithSend",
    "ExitNow",
    "FileDispatcher",
    "FileWrapper",
    "Reactor",
    "TimerHandle",
    "Watch",
    "__version__",
    "close_all",
    "compact_traceback",
    "get_reactor",
    "install",
    "loop",
    "poll",
    "poll2",
    "read",
    "readwrite",
    "shim_status",
    "socket_map",
    "state_predicate",
    "write",
]
