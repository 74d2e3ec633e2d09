"""asyncore-ng: the asyncore/asynchat API on a modern reactor.

Layers, dependencies pointing down:

* ``asyncore`` / ``asynchat`` (top-level shims): the stdlib's names and quirks.
* channels: ``asyncore_ng.dispatcher``, ``.buffered`` (``dispatcher_with_send``), ``.files``,
  ``.chat``; pure parts beside them: ``.framing``, ``.producers``.
* ``asyncore_ng.loop``: asyncore's loop semantics (the map, interest, dispatch, ``loop()``),
  knowing channels only by the asyncore protocol.
* ``asyncore_ng.reactor``: poller, timers, wake-ups; knows nothing of channels.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import waiters as _waiters
from .exceptions import ExitNow

if TYPE_CHECKING:
    from ._install import install, shim_status
    from .buffered import BufferedOutput, DispatcherWithSend
    from .chat import AsyncChat
    from .dispatcher import Dispatcher, compact_traceback, state_predicate
    from .files import FileDispatcher, FileWrapper
    from .loop import ChannelMap, get_reactor, socket_map
    from .reactor import ConcurrentPassError, Reactor, ReactorClosed, TimerHandle, Watch

# Imported on first use (PEP 562), so `import asyncore_ng.reactor` loads the reactor layer only.
_LAZY = {
    # (asyncore's functions live in the submodule ``asyncore_ng.loop``; use them through the
    # ``asyncore`` shim, or as ``asyncore_ng.loop.loop`` and so on.)
    **dict.fromkeys(["ChannelMap", "get_reactor", "socket_map"], ".loop"),
    **dict.fromkeys(["Dispatcher", "compact_traceback", "state_predicate"], ".dispatcher"),
    **dict.fromkeys(["BufferedOutput", "DispatcherWithSend"], ".buffered"),
    **dict.fromkeys(["FileDispatcher", "FileWrapper"], ".files"),
    "AsyncChat": ".chat",
    **dict.fromkeys(["install", "shim_status"], "._install"),
    **dict.fromkeys(["ConcurrentPassError", "Reactor", "ReactorClosed", "TimerHandle", "Watch"], ".reactor"),
}


def __getattr__(name: str) -> Any:
    if name == "aio":
        return importlib.import_module(".aio", __name__)
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def _asyncio_waiter(kind: str) -> Any:
    # ASYNCORE_NG_BACKEND=asyncio/uvloop: the reactor layer finds the bridge through this
    # factory (asyncore_ng.waiters), without importing it; the bridge loads only when used.
    from .aio import make_waiter

    return make_waiter(kind)


for _kind in ("asyncio", "uvloop"):
    _waiters.register(_kind, _asyncio_waiter)

__version__ = "0.1.0"

#: The CPython versions the whole test suite runs on in CI (scripts/test.sh), CPython's own
#: test_asyncore and test_asynchat and the differential scenarios included; the package metadata's
#: classifiers name the same (tests/test_cli.py checks that the three agree).
TESTED_PYTHONS = ((3, 8), (3, 9), (3, 10), (3, 11), (3, 12), (3, 13), (3, 14), (3, 15))

__all__ = [
    "TESTED_PYTHONS",
    "AsyncChat",
    "BufferedOutput",
    "ChannelMap",
    "ConcurrentPassError",
    "Dispatcher",
    "DispatcherWithSend",
    "ExitNow",
    "FileDispatcher",
    "FileWrapper",
    "Reactor",
    "ReactorClosed",
    "TimerHandle",
    "Watch",
    "__version__",
    "compact_traceback",
    "get_reactor",
    "install",
    "shim_status",
    "socket_map",
    "state_predicate",
]
