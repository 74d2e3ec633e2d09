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
from typing import Dict, Tuple

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


def _file_is_ours(path: str) -> bool:
    """Whether the file at our shim's path is still ours (another distribution installing a
    top-level ``asyncore``/``asynchat`` package writes its own file there)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "__asyncore_ng__ = True" in f.read()
    except OSError:
        return False


def resolve_shim(name: str) -> Tuple[str, str]:
    """``(kind, path)``: what ``import name`` gives in this process, and its file. ``kind`` is
    ``"asyncore-ng"``, ``"stdlib"``, ``"other"`` (another distribution's module, or ours
    overwritten by one) or ``"missing"``. The module already imported counts if there is one
    (so after :func:`install`, ours); else what the import system would find."""
    loaded = sys.modules.get(name)
    if loaded is not None:
        origin = getattr(loaded, "__file__", None) or ""
    else:
        spec = importlib.util.find_spec(name)
        origin = (spec.origin or "") if spec is not None else ""
    if loaded is not None and is_ours(loaded):
        return "asyncore-ng", origin
    if origin and os.path.abspath(origin) == shim_path(name):
        return ("asyncore-ng" if _file_is_ours(origin) else "other"), origin
    if origin.startswith(os.path.dirname(os.__file__)) and "site-packages" not in origin:
        return "stdlib", origin
    return ("other" if origin else "missing"), origin


def shim_status() -> Dict[str, str]:
    """For each shim, what ``import`` gives in this process (see :func:`resolve_shim`):
    ``"asyncore-ng"``, ``"stdlib"``, or ``"other: PATH"`` (a clashing distribution, or
    ``"other: not found"``)."""
    status = {}
    for name in SHIMS:
        kind, origin = resolve_shim(name)
        status[name] = kind if kind in ("asyncore-ng", "stdlib") else f"other: {origin or 'not found'}"
    return status
