"""Run one differential scenario under one implementation: ``run_scenario.py IMPL SCENARIO``.

IMPL:

* ``stdlib``: the interpreter's own asyncore/asynchat (CPython 3.11, the oracle). The
  harness starts it with a clean environment and ``-s``; here asyncore_ng is also made
  unimportable, and the modules imported are checked to be the stdlib's files.
* ``ng``: ``asyncore_ng.install()`` first (found on ``sys.path``: installed, or the
  checkout's ``src`` on ``PYTHONPATH``), then the scenario; checked to get our shims.
* ``stdlib-perturbed``: the stdlib with ``dispatcher.log_info`` changed. Only for the
  harness's self-test (a comparison that must fail).

The scenario runs as ``__main__`` through ``runpy.run_path``; its directory's parent (this
folder, holding ``_trace.py``) is ``sys.path[0]`` since Python puts this script's folder there.
"""

from __future__ import annotations

import importlib.abc
import os
import runpy
import sys
import warnings
from typing import Any, Optional, Sequence


class _Refuse(importlib.abc.MetaPathFinder):
    """Makes ``import asyncore_ng`` fail in the oracle run."""

    def find_spec(self, fullname: str, path: Optional[Sequence[str]], target: Any = None) -> None:
        if fullname == "asyncore_ng" or fullname.startswith("asyncore_ng."):
            raise ImportError(f"{fullname} is not available in the oracle run")
        return None


def _stdlib() -> None:
    sys.meta_path.insert(0, _Refuse())
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    import asynchat
    import asyncore

    libdir = os.path.dirname(os.__file__)
    for mod in (asyncore, asynchat):
        where = os.path.dirname(os.path.abspath(mod.__file__ or ""))
        if getattr(mod, "__asyncore_ng__", False) or where != libdir:
            sys.exit(f"run_scenario: {mod.__name__} is not the stdlib's ({mod.__file__})")


def _ng() -> None:
    import asyncore_ng

    asyncore_ng.install()
    import asynchat
    import asyncore

    for mod in (asyncore, asynchat):
        if not getattr(mod, "__asyncore_ng__", False):
            sys.exit(f"run_scenario: {mod.__name__} is not asyncore-ng's ({mod.__file__})")


def _stdlib_perturbed() -> None:
    _stdlib()
    import asyncore

    original = asyncore.dispatcher.log_info

    def log_info(self: Any, message: str, type: str = "info") -> None:
        original(self, message.upper(), type)

    asyncore.dispatcher.log_info = log_info  # type: ignore[method-assign]


IMPLS = {"stdlib": _stdlib, "ng": _ng, "stdlib-perturbed": _stdlib_perturbed}


def main(argv: Sequence[str]) -> None:
    if len(argv) != 3 or argv[1] not in IMPLS:
        sys.exit(f"usage: {argv[0]} {{{','.join(IMPLS)}}} SCENARIO")
    IMPLS[argv[1]]()
    path = os.path.abspath(argv[2])
    sys.argv = [path]
    runpy.run_path(path, run_name="__main__")


if __name__ == "__main__":
    main(sys.argv)
