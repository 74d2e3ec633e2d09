"""Helpers for the differential scenarios (standard library only: never imports asyncore_ng).

Every scenario runs twice, under the real stdlib asyncore of CPython 3.11 and under
asyncore-ng, and the two outputs are compared line for line (see harness.py). So what a
scenario prints must not depend on anything but the library's behaviour:

* no descriptor numbers, ports or ids: channels get symbolic names (``Names``), addresses
  are printed through ``addr()``; the harness also masks ``0x...`` ids and loopback ports
  that slip through in reprs;
* no timing: data is written before the loop runs, passes are bounded with ``count=``;
* a deadline (armed on import): a scenario that hangs dumps its stacks and exits with
  status 1 after ``DEADLINE`` seconds, which shows as a difference.

Importing this module also routes the ``asyncore_ng`` logger to standard output, in both
runs: a warning our engine logs where the stdlib stays silent then shows as a difference.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import socket
from typing import Any, Callable, Dict, List, Optional, Tuple

DEADLINE = 10.0
LOOPBACK = "127.0.0.1"


def arm_deadline(seconds: float = DEADLINE) -> None:
    """(Re)arm the deadline: after ``seconds`` dump every thread's stack and exit(1)."""
    faulthandler.dump_traceback_later(seconds, exit=True)


def log(*parts: Any) -> None:
    """One trace line (flushed at once, so it interleaves with stderr in order)."""
    print(*parts, flush=True)


def exc(e: BaseException) -> str:
    """``TypeName: message`` of an exception (what the trace shows of it)."""
    text = str(e)
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def attempt(label: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``fn`` and log what it returned or raised (BaseException included)."""
    try:
        result = fn(*args, **kwargs)
    except BaseException as e:  # the trace records it
        log(f"{label} raised {exc(e)}")
        return None
    log(f"{label} -> {result!r}")
    return result


class Names:
    """Symbolic names for channels and descriptors, so traces never show numbers."""

    def __init__(self) -> None:
        self._by_id: Dict[int, str] = {}
        self._keep: List[Any] = []

    def set(self, obj: Any, name: str) -> Any:
        self._by_id[id(obj)] = name
        self._keep.append(obj)  # ids must stay unique while named
        return obj

    def __call__(self, obj: Any) -> str:
        return self._by_id.get(id(obj), f"<unnamed {type(obj).__name__}>")

    def keys_of(self, m: Dict[Any, Any]) -> List[str]:
        """A map's entries as channel names, in the map's order."""
        return [self(v) for v in m.values()]


names = Names()


class Recorder:
    """Events of several channels within a pass, printed grouped by channel.

    Across channels, the stdlib dispatches all reads of a pass, then all writes; asyncore-ng
    each channel's read and write in turn, channels in kernel order (a documented difference,
    docs/compat.md). Scenarios with several channels record through this to compare what each
    channel saw in which pass, not the interleaving between channels.
    """

    def __init__(self) -> None:
        self._events: Dict[str, List[str]] = {}

    def __call__(self, who: str, *what: Any) -> None:
        self._events.setdefault(who, []).append(" ".join(str(w) for w in what))

    def flush(self, label: str) -> None:
        log(label)
        for who in sorted(self._events):
            for event in self._events[who]:
                log(f"  {who}: {event}")
        self._events.clear()


def addr(a: Any) -> str:
    """An address with the loopback port replaced by ``PORT``."""
    if isinstance(a, tuple) and len(a) >= 2 and a[0] == LOOPBACK:
        return repr((a[0], "PORT", *a[2:]))
    return repr(a)


def pair() -> Tuple[socket.socket, socket.socket]:
    """A connected AF_UNIX stream socketpair (blocking; dispatchers make their end
    non-blocking)."""
    return socket.socketpair()


def listener(backlog: int = 5) -> socket.socket:
    """A TCP listener on 127.0.0.1, port chosen by the kernel."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((LOOPBACK, 0))
    s.listen(backlog)
    return s


def tcp_pair() -> Tuple[socket.socket, socket.socket]:
    """A connected loopback TCP pair ``(a, b)`` (both blocking), no listener left open."""
    lst = listener(1)
    a = socket.create_connection(lst.getsockname(), timeout=5)
    b, _ = lst.accept()
    lst.close()
    a.settimeout(None)
    b.settimeout(None)
    return a, b


def refused_address() -> Tuple[socket.socket, Tuple[str, int]]:
    """A loopback address that refuses connections: a bound socket that does not listen
    (kept open by the caller, so the port cannot be taken meanwhile)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((LOOPBACK, 0))
    return s, s.getsockname()


def reset(sock: socket.socket) -> None:
    """Close a TCP socket with a reset (SO_LINGER 0)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()


def drain(sock: socket.socket) -> bytes:
    """Everything readable on ``sock`` now, without blocking (b'' if nothing)."""
    out = b""
    sock.setblocking(False)
    try:
        while True:
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            out += chunk
    except (BlockingIOError, ConnectionError):
        pass
    finally:
        sock.setblocking(True)
    return out


def open_fds() -> int:
    """Descriptors open in this process (-1 where /proc is missing)."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return -1


def is_closed(sock: Optional[socket.socket]) -> bool:
    return sock is None or sock.fileno() == -1


class _StdoutHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        log(f"LOGGING {record.name} {record.levelname}: {record.getMessage()}")


def route_engine_logging() -> None:
    """Print every record of the ``asyncore_ng`` logger (silent under the stdlib, where no
    such logger is used: anything it prints is a difference)."""
    lg = logging.getLogger("asyncore_ng")
    lg.addHandler(_StdoutHandler())
    lg.setLevel(logging.DEBUG)
    lg.propagate = False


arm_deadline()
route_engine_logging()
