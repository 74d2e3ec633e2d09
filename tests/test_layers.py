"""Dependencies point one way, there are no import cycles, and no module reaches into another
module's private attributes.

Layers, lowest first (a module may import its own layer and those below, never above):

0. shared leaves and pure parts with no I/O: ``exceptions``, ``errnos``, ``framing``, ``producers``,
   ``waiters`` (the registry of event-loop backends that integrations provide)
1. the reactor: ``asyncore_ng.reactor.*`` (descriptors, timers, wake-ups; no channels)
2. asyncore's loop semantics: ``asyncore_ng.loop`` (knows channels by protocol only)
3. channels: ``dispatcher``, ``buffered``, ``files``, ``chat``, ``tls``
4. integrations: the package ``__init__``, ``aio``, ``_install``, the command line
5. the shims: top-level ``asyncore`` and ``asynchat``
6. the demo servers (``asyncore_ng.demos``), written on the shims like any user program

The import graph is read statically (every ``import`` statement, function-level ones included,
so a cycle cannot hide behind a late import). Private access: ``obj._name`` where ``obj`` is not
``self``/``cls`` is allowed only for names defined in the same module, the stdlib's own private
names that asyncore exposed, and the documented channel protocol of ``asyncore_ng.loop`` (names
starting ``_ng_`` that the loop and the channels exchange). A few runtime probes check the same
direction as users import things.
"""

from __future__ import annotations

import ast
import json
import os
import site
import subprocess
import sys
from typing import Dict, Iterator, List, Optional, Set, Tuple

import pytest

import asyncore_ng

DEADLINE = 20.0
PACKAGE_DIR = os.path.dirname(os.path.abspath(asyncore_ng.__file__))
SRC_DIR = os.path.dirname(PACKAGE_DIR)

LEVELS: Dict[str, int] = {
    "asyncore_ng.exceptions": 0,
    "asyncore_ng.errnos": 0,
    "asyncore_ng.framing": 0,
    "asyncore_ng.producers": 0,
    "asyncore_ng.waiters": 0,
    "asyncore_ng.reactor": 1,
    "asyncore_ng.loop": 2,
    "asyncore_ng.dispatcher": 3,
    "asyncore_ng.buffered": 3,
    "asyncore_ng.files": 3,
    "asyncore_ng.chat": 3,
    "asyncore_ng.tls": 3,
    "asyncore_ng": 4,
    "asyncore": 5,
    "asynchat": 5,
    "asyncore_ng.demos": 6,  # demo servers: programs on the public asyncore/asynchat API, like a user's
}
#: Imports that point up on purpose, and why.
ALLOWED_UPWARD = {
    ("asyncore_ng.cli", "asyncore_ng.demos"): "the command line starts the demo programs (on first use)",
}
INTEGRATION = 4  # every other module of the package (aio, _install, the command line...)

#: The channel protocol of asyncore_ng.loop (see its docstring), exchanged across modules.
PROTOCOL = {
    "_ng_registration",
    "_ng_announces_interest",
    "_ng_rechecks_after_dispatch",
    "_ng_filter_interest",
    "_ng_announce",
    "_ng_globals",
    "_ng_plain_class",
    "_ng_file_wrapper",
    "_ng_default_map",
    "_ng_pending_input",
    "_ng_held",
    "_ng_overrides",
    "_ng_cork_output",
    "_ng_uncork_output",
    "_ng_take_read_ahead",
    "_ng_handle_read_event",
    "_ng_io",
    "_ng_bulk",
}
#: Private names the stdlib's asyncore/asynchat exposed (code uses them; so do the shims).
STDLIB_PRIVATE = {
    "_fileno",
    "_map",
    "_exception",
    "_strerror",
    "_reraised_exceptions",
    "_DISCONNECTED",
    "_collect_incoming_data",
    "_get_data",
}


def _source_files() -> Iterator[Tuple[str, str]]:
    """``(module name, path)`` of every module of the package and the shims."""
    for top in ("asyncore_ng", "asyncore", "asynchat"):
        base = os.path.join(SRC_DIR, top)
        for folder, _, files in os.walk(base):
            for name in sorted(files):
                if not name.endswith(".py"):
                    continue
                rel = os.path.relpath(os.path.join(folder, name), SRC_DIR)[:-3].replace(os.sep, ".")
                if rel.endswith(".__init__"):
                    rel = rel[: -len(".__init__")]
                yield rel, os.path.join(folder, name)


MODULES = dict(_source_files())


def _parse(path: str) -> ast.AST:
    with open(path) as f:
        return ast.parse(f.read(), path)


def _level(module: str) -> int:
    name = module
    while name:
        if name in LEVELS:
            return LEVELS[name]
        name = name.rpartition(".")[0]
    return INTEGRATION if module.startswith("asyncore_ng") else -1


def _package_of(module: str, path: str) -> str:
    return module if path.endswith("__init__.py") else module.rpartition(".")[0]


def _imports(module: str, path: str) -> Set[str]:
    """Modules of ours that ``module`` imports, anywhere in its body."""
    tree = _parse(path)
    found: Set[str] = set()
    package = _package_of(module, path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            # "from . import errnos" names a module; "from .loop import x" names attributes.
            submodules = [
                f"{target}.{alias.name}" for alias in node.names if f"{target}.{alias.name}" in MODULES
            ]
            names = submodules or [target]
        else:
            continue
        for name in names:
            while name and name not in MODULES:
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
    return found


GRAPH = {module: _imports(module, path) for module, path in MODULES.items()}


def _cycle() -> Optional[List[str]]:
    state: Dict[str, int] = {}
    stack: List[str] = []

    def visit(node: str) -> Optional[List[str]]:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(GRAPH.get(node, ())):
            # A package imports its submodules and they import the package's siblings: only
            # edges between modules (not into a package __init__ from its own children) count.
            if nxt.startswith(node + ".") or node.startswith(nxt + "."):
                continue
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(GRAPH):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_graph_is_read() -> None:
    # The checks below can fail: the graph sees the imports that exist.
    assert "asyncore_ng.loop" in GRAPH["asyncore_ng.dispatcher"]
    assert "asyncore_ng.reactor" in GRAPH["asyncore_ng.loop"]
    assert "asyncore_ng.chat" in GRAPH["asynchat"]
    assert all(_level(m) >= 0 for m in MODULES), [m for m in MODULES if _level(m) < 0]


def test_no_import_cycles() -> None:
    assert _cycle() is None


def test_the_cycle_finder_finds_one() -> None:
    GRAPH["asyncore_ng.loop"].add("asyncore_ng.dispatcher")
    try:
        assert _cycle() is not None
    finally:
        GRAPH["asyncore_ng.loop"].discard("asyncore_ng.dispatcher")


def test_imports_point_down() -> None:
    upward = [
        (module, target)
        for module, targets in GRAPH.items()
        for target in targets
        if _level(target) > _level(module) and not target.startswith(module + ".")
    ]
    assert [pair for pair in upward if pair not in ALLOWED_UPWARD] == []


def _defined_names(tree: ast.AST) -> Set[str]:
    """Private names a module defines: functions, classes, assignments, attributes it sets,
    slots it declares."""
    names: Set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("_"):
            names.add(node.value)  # __slots__ entries, attrgetter("_slot") and the like
    return {n for n in names if n.startswith("_")}


def _private_reaches(module: str, path: str) -> List[str]:
    tree = _parse(path)
    own = _defined_names(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        attr = node.attr
        if not attr.startswith("_") or (attr.startswith("__") and attr.endswith("__")):
            continue
        if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
            continue
        if isinstance(node.value, ast.Call) and getattr(node.value.func, "id", "") == "super":
            continue
        if attr in own or attr in PROTOCOL or attr in STDLIB_PRIVATE:
            continue
        found.append(f"{module}:{node.lineno}: .{attr}")
    return found


def test_no_private_access_across_modules() -> None:
    reaches = [r for module, path in MODULES.items() for r in _private_reaches(module, path)]
    assert reaches == []


def test_the_private_access_check_can_fail(tmp_path: object) -> None:
    path = os.path.join(str(tmp_path), "probe.py")
    with open(path, "w") as f:
        f.write("def f(reactor):\n    return reactor._stopping\n")
    assert _private_reaches("probe", path) == ["probe:2: ._stopping"]


# -- runtime probes -----------------------------------------------------------------------------


def _child_env() -> Dict[str, str]:
    env = dict(os.environ)
    if SRC_DIR not in {os.path.abspath(p) for p in site.getsitepackages()}:
        current = env.get("PYTHONPATH")
        env["PYTHONPATH"] = SRC_DIR if not current else os.pathsep.join([SRC_DIR, current])
    return env


def _modules_pulled_in(statement: str, cwd: str) -> List[str]:
    """The modules that ``statement`` adds to ``sys.modules`` in a fresh interpreter."""
    code = "\n".join(
        [
            "import json, sys",
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


def test_importing_the_reactor_loads_nothing_above_it(tmp_path: object) -> None:
    added = _modules_pulled_in("import asyncore_ng.reactor", cwd=str(tmp_path))
    assert "asyncore_ng.reactor.core" in added
    ours = [m for m in added if m.startswith(("asyncore_ng", "asyncore", "asynchat"))]
    assert [m for m in ours if _level(m) > 1 and m != "asyncore_ng"] == []


def test_installing_loads_the_channels_and_the_shims(tmp_path: object) -> None:
    added = _modules_pulled_in("import asyncore_ng; asyncore_ng.install()", cwd=str(tmp_path))
    assert {"asyncore_ng.dispatcher", "asyncore_ng.loop", "asyncore", "asynchat"} <= set(added)


@pytest.mark.parametrize(
    "module", ["asyncore_ng", "asyncore_ng.loop", "asyncore_ng.dispatcher", "asyncore_ng.chat"]
)
def test_the_engine_does_not_load_the_shims(module: str, tmp_path: object) -> None:
    added = _modules_pulled_in(f"import {module}", cwd=str(tmp_path))
    assert module in added
    assert [m for m in added if m in ("asyncore", "asynchat")] == []
