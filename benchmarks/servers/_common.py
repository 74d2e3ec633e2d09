"""Helpers shared by the benchmark servers (not a server itself).

Every server binds 127.0.0.1 (port 0 by default: the kernel picks one), raises its descriptor
limit to the hard limit (S4 holds 10,000 connections), prints one JSON line saying where it
listens and which implementation it runs, then serves until it is killed.
"""

import argparse
import json
import os
import platform
import resource
import sys
from types import ModuleType
from typing import Optional, Sequence

LISTEN_BACKLOG = 4096


def parse_args(description: str, argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The common options: --port, --poll/--select (asyncore), --uvloop (asyncio), --certfile and
    --keyfile (TLS servers)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free one)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--poll", dest="use_poll", action="store_true", default=True,
                       help="asyncore.loop(use_poll=True) (the default)")
    group.add_argument("--select", dest="use_poll", action="store_false",
                       help="asyncore.loop(use_poll=False)")
    parser.add_argument("--uvloop", action="store_true", help="asyncio servers: run on uvloop")
    parser.add_argument("--certfile", help="TLS servers: PEM certificate")
    parser.add_argument("--keyfile", help="TLS servers: PEM private key")
    return parser.parse_args(argv)


def raise_nofile_limit() -> int:
    """Raise RLIMIT_NOFILE's soft limit to the hard limit; return the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 16)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def announce(port: int, impl: str, module: ModuleType) -> None:
    """Print the ready line the harness waits for: port, implementation, and which module runs
    (its file, and whether it is asyncore-ng's: the harness checks both)."""
    line = {
        "port": port,
        "pid": os.getpid(),  # (under `asyncore-ng run --workers N`: one line per worker)
        "impl": impl,
        "module": getattr(module, "__file__", None),
        "asyncore_ng": getattr(module, "__asyncore_ng__", False) is True,
        "python": platform.python_version(),
        "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
    }
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()
