"""Load CPython's own test_asyncore / test_asynchat at test time (never copied into this repo).

Which copy: on 3.8-3.11 the running interpreter's own ``test`` package (the spec of that
version); on 3.12+, where the modules and their tests were removed, the 3.11 interpreter's
copy, found through pyenv or ``ASYNCORE_NG_CPYTHON_TESTDIR``. The suites run against our
modules because ``asyncore_ng.install()`` has put them in ``sys.modules`` first (conftest.py).
"""

from __future__ import annotations

import glob
import importlib.util
import os
import subprocess
import sys
import unittest
from types import ModuleType
from typing import Dict, Optional, Tuple


def _pyenv_root() -> Optional[str]:
    root = os.environ.get("PYENV_ROOT")
    if root:
        return root
    try:
        out = subprocess.run(["pyenv", "root"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return os.path.expanduser("~/.pyenv") if os.path.isdir(os.path.expanduser("~/.pyenv")) else None
    return out.stdout.strip() or None


def find_suite(name: str) -> Tuple[Optional[str], str]:
    """``(path, why_not)`` for CPython's ``test/<name>.py``."""
    override = os.environ.get("ASYNCORE_NG_CPYTHON_TESTDIR")
    if override:
        path = os.path.join(override, name + ".py")
        return (path, "") if os.path.exists(path) else (None, f"{path} does not exist")
    if sys.version_info < (3, 12):
        try:
            import test

            path = os.path.join(os.path.dirname(test.__file__), name + ".py")
        except ImportError:
            return None, "this interpreter was built without its test package"
        return (path, "") if os.path.exists(path) else (None, f"{path} does not exist")
    root = _pyenv_root()
    if root:
        candidates = sorted(
            glob.glob(os.path.join(root, "versions", "3.11.*", "lib", "python3.11", "test", name + ".py"))
        )
        if candidates:
            return candidates[-1], ""
    return None, f"no CPython 3.11 {name}.py found (set ASYNCORE_NG_CPYTHON_TESTDIR)"


def load_suite(name: str) -> Dict[str, type]:
    """The suite's TestCase classes by name, or a single skipping class saying why."""
    path, why = find_suite(name)
    if path is None:

        @unittest.skip(f"CPython's {name} not available: {why}")
        class Unavailable(unittest.TestCase):
            def test_unavailable(self) -> None:  # pragma: no cover
                pass

        return {"Unavailable": Unavailable}
    spec = importlib.util.spec_from_file_location(f"cpython_{name}", path)
    assert spec is not None and spec.loader is not None
    module: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    classes = {}
    for attr, value in vars(module).items():
        if (
            isinstance(value, type)
            and issubclass(value, unittest.TestCase)
            and value.__module__ == module.__name__
        ):
            value.__qualname__ = value.__name__
            classes[attr] = value
    return classes
