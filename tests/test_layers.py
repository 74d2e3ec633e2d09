"""Dependencies point one way: shims (asyncore, asynchat) -> channels -> reactor.

Each check imports one layer in a fresh interpreter and looks at what ``sys.modules`` gained.
Two views of the reactor layer: as a user imports it (``import asyncore_ng.reactor``, which
first runs the package's ``__init__``), and on its own (the package ``__init__`` replaced by an
empty stand-in, so only the reactor modules' own imports count).
"""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
from typing import Dict, List, Optional

import pytest

import asyncore_ng

DEADLINE = 20.0
PACKAGE_DIR = os.path.dirname(os.path.abspath(asyncore_ng.__file__))

#: Modules of the channel layer and above, which the reactor must never import.
ABOVE_REACTOR = ["asyncore_ng.dispatcher", "asyncore_ng.channels", "asyncore_ng.chat"]
#: The top-level shims, which nothing in the engine may import (they are the top layer; on
#: 3.8-3.11 ``asyncore`` could also be the stdlib's, which the engine must not touch either).
SHIMS = ["asyncore", "asynchat"]


def _child_env() -> Dict[str, str]:
    env = dict(os.environ)
    root = os.path.dirname(PACKAGE_DIR)
    if root not in {os.path.abspath(p) for p in site.getsitepackages()}:
        current = env.get("PYTHONPATH")
        env["PYTHONPATH"] = root if not current else os.pathsep.join([root, current])
    return env


def _modules_pulled_in(statement: str, prelude: str = "", cwd: Optional[str] = None) -> List[str]:
    """The modules that ``statement`` adds to ``sys.modules`` in a fresh interpreter."""
    code = "\n".join(
        [
            "import json, sys",
            prelude,
            "before = set(sys.modules)",
            statement,
            "print(json.dumps(sorted(set(sys.modules) - before)))",
        ]
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=_child_env(),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    assert out.returncode == 0, out.stderr
    added: List[str] = json.loads(out.stdout)
    return added


# A stand-in for the package __init__: a module whose __path__ is the real package directory,
# so ``import asyncore_ng.reactor`` runs only the reactor's own modules.
BARE_PACKAGE = f"""
import types
_pkg = types.ModuleType("asyncore_ng")
_pkg.__path__ = [{PACKAGE_DIR!r}]
sys.modules["asyncore_ng"] = _pkg
"""


def _forbidden(added: List[str], names: List[str]) -> List[str]:
    return [m for m in added if m in names or any(m.startswith(n + ".") for n in names)]


def test_the_probe_sees_what_an_import_pulls_in(tmp_path: object) -> None:
    """The check can fail: importing the shim does pull in the channel layer."""
    added = _modules_pulled_in("import asyncore_ng; asyncore_ng.install()", cwd=str(tmp_path))
    assert {"asyncore_ng.dispatcher", "asyncore_ng.channels", "asyncore", "asynchat"} <= set(added)


def test_reactor_modules_import_nothing_above_them(tmp_path: object) -> None:
    added = _modules_pulled_in("import asyncore_ng.reactor", BARE_PACKAGE, cwd=str(tmp_path))
    assert "asyncore_ng.reactor.core" in added  # the import did happen
    assert _forbidden(added, ABOVE_REACTOR + SHIMS) == []
    # Besides itself, only leaf modules shared with the layers above (they import nothing).
    ours = {m for m in added if m.startswith("asyncore_ng.")}
    outside = {m for m in ours if not m.startswith("asyncore_ng.reactor")}
    assert outside <= {"asyncore_ng.exceptions", "asyncore_ng.errnos"}


def test_importing_the_reactor_does_not_load_the_channel_layer(tmp_path: object) -> None:
    added = _modules_pulled_in("import asyncore_ng.reactor", cwd=str(tmp_path))
    assert "asyncore_ng.reactor.core" in added
    assert _forbidden(added, ABOVE_REACTOR) == []


def test_importing_the_reactor_does_not_load_the_shims(tmp_path: object) -> None:
    added = _modules_pulled_in("import asyncore_ng.reactor", cwd=str(tmp_path))
    assert _forbidden(added, SHIMS) == []


@pytest.mark.parametrize(
    "module", ["asyncore_ng", "asyncore_ng.dispatcher", "asyncore_ng.channels", "asyncore_ng.chat"]
)
def test_the_engine_does_not_load_the_shims(module: str, tmp_path: object) -> None:
    if module == "asyncore_ng.chat" and not os.path.exists(os.path.join(PACKAGE_DIR, "chat.py")):
        pytest.skip("asyncore_ng.chat does not exist yet")
    added = _modules_pulled_in(f"import {module}", cwd=str(tmp_path))
    assert module in added
    assert _forbidden(added, SHIMS) == []


@pytest.mark.parametrize("module", ["asyncore_ng.dispatcher", "asyncore_ng.channels"])
def test_channel_modules_on_their_own_do_not_load_the_shims(module: str, tmp_path: object) -> None:
    added = _modules_pulled_in(f"import {module}", BARE_PACKAGE, cwd=str(tmp_path))
    assert module in added
    assert _forbidden(added, SHIMS) == []
