"""asyncore, as the Python documentation describes it, on asyncore-ng's engine.

This module is the only place where the stdlib's names, spellings and quirks live; the engine
is ``asyncore_ng``. Module-level functions read ``socket_map`` from this module at call time,
so code that rebinds ``asyncore.socket_map`` (CPython's own tests do) keeps working.

On Python 3.8-3.11 the standard library's asyncore is found first: call
``asyncore_ng.install()`` or run the program with ``python -m asyncore_ng run``. Deliberate
differences from the stdlib are listed in docs/compat.md.
"""

from __future__ import annotations

import os
import select
import socket
import sys
import time
import warnings
from errno import (
    EAGAIN,
    EALREADY,
    EBADF,
    ECONNABORTED,
    ECONNRESET,
    EINPROGRESS,
    EINVAL,
    EISCONN,
    ENOTCONN,
    EPIPE,
    ESHUTDOWN,
    EWOULDBLOCK,
    errorcode,
)
from typing import Any, Dict, Optional

from asyncore_ng import buffered as _buffered
from asyncore_ng import dispatcher as _dispatcher
from asyncore_ng import files as _files
from asyncore_ng import loop as _loop
from asyncore_ng.errnos import DISCONNECTED as _DISCONNECTED  # noqa: F401 (stdlib name)
from asyncore_ng.exceptions import PASSTHROUGH as _reraised_exceptions  # noqa: F401 (stdlib name)
from asyncore_ng.exceptions import ExitNow

#: Marks this module as asyncore-ng's (``asyncore_ng.install()`` and the runner check it).
__asyncore_ng__ = True

socket_map: Dict[Any, Any] = _loop.socket_map

# The loop looks these up here at dispatch time (tests replace them), as the stdlib did.
read = _loop.read
write = _loop.write
_exception = _loop._exception
readwrite = _loop.readwrite
compact_traceback = _dispatcher.compact_traceback
_strerror = _dispatcher.strerror

_this = sys.modules[__name__]

# The stdlib's names say they are asyncore's: a traceback prints ``asyncore.ExitNow: ...``, a
# pickle names ``asyncore.ExitNow``. They are the engine's objects, so they say so once this
# module is imported.
for _name in ("ExitNow", "read", "write", "_exception", "readwrite", "compact_traceback", "_strerror"):
    globals()[_name].__module__ = __name__
del _name


def poll(timeout: Optional[float] = 0.0, map: Optional[Dict[Any, Any]] = None) -> None:
    _loop.passes(socket_map if map is None else map, timeout, False, 1, _this)


def poll2(timeout: Optional[float] = 0.0, map: Optional[Dict[Any, Any]] = None) -> None:
    _loop.poll2(timeout, socket_map if map is None else map, hooks=_this)


poll3 = poll2
_loop.register_poll_functions(poll, poll2)


def loop(
    timeout: Optional[float] = 30.0,
    use_poll: bool = False,
    map: Optional[Dict[Any, Any]] = None,
    count: Optional[int] = None,
) -> None:
    _loop.loop(timeout, use_poll, socket_map if map is None else map, count, hooks=_this)


def close_all(map: Optional[Dict[Any, Any]] = None, ignore_all: bool = False) -> None:
    _loop.close_all(socket_map if map is None else map, ignore_all)


class dispatcher(_dispatcher.Dispatcher):
    """asyncore's dispatcher (see ``asyncore_ng.Dispatcher`` for the extras)."""

    _ng_globals = globals()  # create_socket uses this module's ``socket`` (tests replace it)

    def _ng_default_map(self) -> Dict[Any, Any]:
        return socket_map


class dispatcher_with_send(_buffered.DispatcherWithSend, dispatcher):
    """A dispatcher that buffers output (linear-time, unlike the stdlib's)."""

    _ng_plain_class = dispatcher  # initiate_send goes through dispatcher.send (tests patch it)


if os.name == "posix":

    class file_wrapper(_files.FileWrapper):
        """A file descriptor made to look like a socket (the descriptor is duplicated)."""

    class file_dispatcher(_files.FileDispatcher, dispatcher):
        """A dispatcher over a pipe or other file descriptor."""

        _ng_file_wrapper = file_wrapper


__all__ = [
    "EAGAIN",
    "EALREADY",
    "EBADF",
    "ECONNABORTED",
    "ECONNRESET",
    "EINPROGRESS",
    "EINVAL",
    "EISCONN",
    "ENOTCONN",
    "EPIPE",
    "ESHUTDOWN",
    "EWOULDBLOCK",
    "ExitNow",
    "close_all",
    "compact_traceback",
    "dispatcher",
    "dispatcher_with_send",
    "errorcode",
    "file_dispatcher",
    "file_wrapper",
    "loop",
    "os",
    "poll",
    "poll2",
    "poll3",
    "read",
    "readwrite",
    "select",
    "socket",
    "socket_map",
    "sys",
    "time",
    "warnings",
    "write",
]
