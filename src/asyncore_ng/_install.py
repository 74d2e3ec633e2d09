"""Putting our ``asyncore``/``asynchat`` in front of whatever else would be imported.

Two traps (see the README's packaging notes). On Python 3.8-3.11 the standard library's
modules are found before site-packages, so our shims take effect only when placed in
``sys.modules`` first: :func:`install`, or the runner. On 3.12+ ``import asyncore`` finds a
top-level package; ours is one, and so are those of pyasyncore and standard-asyncore, which
install into the same directory and overwrite each other's files: :func:`shim_status` tells
which one ``import asyncore`` would get.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from types import ModuleType
from typing import Dict

SHIMS = ("asyncore", "asynchat")
_HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def shim_path(name: str) -> str:
    """Where our shim ``name`` (``"asyncore"`` or ``"asynchat"``) lives."""
    return os.path.join(_HERE, name, "__init__.py")


def is_ours(module: object) -> bool:
    return getattr(module, "__asyncore_ng__", False) is True


def load_shim(name: str) -> ModuleType:
    """Our module ``name``, loaded from its file and placed in ``sys.modules`` (replacing the
    stdlib's or anybody else's). Raises ``ImportError`` if the file is not ours any more."""
    current = sys.modules.get(name)
    if current is not None and is_ours(current):
        return current
    path = shim_path(name)
    spec = importlib.util.spec_from_file_location(
        name, path, submodule_search_locations=[os.path.dirname(path)]
    )
    if spec is None or spec.loader is None or not os.path.exists(path):
        raise ImportError(f"asyncore-ng's {name} shim is missing at {path}; reinstall asyncore-ng")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        if current is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = current
        raise
    if not is_ours(module):
        sys.modules[name] = current  # type: ignore[assignment]
        raise ImportError(
            f"{path} is not asyncore-ng's {name}: another distribution (pyasyncore, "
            "standard-asyncore...) overwrote it. Uninstall it, then reinstall asyncore-ng."
        )
    return module


def install() -> None:
    """Make ``import asyncore`` and ``import asynchat`` give asyncore-ng's modules from now on,
    on every Python version. Idempotent. Modules that already imported the stdlib's keep it."""
    for name in SHIMS:
        load_shim(name)


def shim_status() -> Dict[str, str]:
    """For each shim, what ``import`` gives in this process: the module already imported if
    there is one (so after :func:`install`, ours), else what the import system would find.
    ``"asyncore-ng"``, ``"stdlib"``, or ``"other: PATH"`` (a clashing distribution)."""
    status = {}
    for name in SHIMS:
        loaded = sys.modules.get(name)
        if loaded is not None:
            origin = getattr(loaded, "__file__", None) or ""
        else:
            spec = importlib.util.find_spec(name)
            origin = (spec.origin or "") if spec is not None else ""
        if (loaded is not None and is_ours(loaded)) or os.path.abspath(origin) == shim_path(name):
            status[name] = "asyncore-ng"
        elif origin.startswith(os.path.dirname(os.__file__)) and "site-packages" not in origin:
            status[name] = "stdlib"
        else:
            status[name] = f"other: {origin or 'not found'}"
    return status
