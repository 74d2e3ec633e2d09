"""The top-level ``asyncore`` shim is a drop-in for the stdlib's: its names, its reprs, its
rebindable ``socket_map``, and the way it gets installed (``install()``, ``shim_status()``).

On 3.8-3.11 the real stdlib module is loaded from its file under another name and compared
with ours; on 3.12+ (where it is gone) the 3.11 list of public names below stands in for it.
"""

from __future__ import annotations

import asyncore
import importlib.util
import inspect
import json
import os
import re
import site
import socket
import subprocess
import sys
import warnings
from types import ModuleType
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest

import asyncore_ng
from asyncore_ng import _install

DEADLINE = 20.0

#: ``sorted(n for n in dir(asyncore) if not n.startswith("_"))`` on CPython 3.11.7 (the stdlib
#: asyncore has no ``__all__``; these are what ``from asyncore import *`` gives).
STDLIB_311_PUBLIC_NAMES = [
    "EAGAIN", "EALREADY", "EBADF", "ECONNABORTED", "ECONNRESET", "EINPROGRESS", "EINVAL",
    "EISCONN", "ENOTCONN", "EPIPE", "ESHUTDOWN", "EWOULDBLOCK", "ExitNow", "close_all",
    "compact_traceback", "dispatcher", "dispatcher_with_send", "errorcode", "file_dispatcher",
    "file_wrapper", "loop", "os", "poll", "poll2", "poll3", "read", "readwrite", "select",
    "socket", "socket_map", "sys", "time", "warnings", "write",
]  # fmt: skip

#: Module-level functions and their parameters ``(name, default or REQUIRED)`` in 3.11.
REQUIRED = object()
STDLIB_311_SIGNATURES: Dict[str, List[Tuple[str, Any]]] = {
    "loop": [("timeout", 30.0), ("use_poll", False), ("map", None), ("count", None)],
    "poll": [("timeout", 0.0), ("map", None)],
    "poll2": [("timeout", 0.0), ("map", None)],
    "poll3": [("timeout", 0.0), ("map", None)],
    "read": [("obj", REQUIRED)],
    "write": [("obj", REQUIRED)],
    "readwrite": [("obj", REQUIRED), ("flags", REQUIRED)],
    "close_all": [("map", None), ("ignore_all", False)],
    "compact_traceback": [],
}

LOWERCASE_CLASSES = ["dispatcher", "dispatcher_with_send", "file_dispatcher", "file_wrapper"]


def _stdlib_asyncore() -> Optional[ModuleType]:
    """The real stdlib asyncore, loaded from its file as ``stdlib_asyncore`` (3.8-3.11), or
    None. Not put in ``sys.modules``: it must not disturb ours."""
    path = os.path.join(os.path.dirname(os.__file__), "asyncore.py")
    if not os.path.exists(path):
        return None
    spec = importlib.util.spec_from_file_location("stdlib_asyncore", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.10+: "asyncore is deprecated"
        spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def stdlib() -> ModuleType:
    module = _stdlib_asyncore()
    if module is None:
        pytest.skip(f"Python {sys.version_info[0]}.{sys.version_info[1]} has no stdlib asyncore")
    return module


def _params(func: Any) -> List[Tuple[str, Any]]:
    out = []
    for p in inspect.signature(func).parameters.values():
        if p.name == "self":
            continue
        out.append((p.name, REQUIRED if p.default is inspect.Parameter.empty else p.default))
    return out


def _public(module: ModuleType) -> List[str]:
    return sorted(n for n in dir(module) if not n.startswith("_"))


# -- it is ours -------------------------------------------------------------------------------


def test_the_asyncore_under_test_is_ours() -> None:
    assert asyncore.__asyncore_ng__ is True
    assert _install.is_ours(sys.modules["asyncore"])
    assert os.path.abspath(asyncore.__file__) == _install.shim_path("asyncore")


# -- names and signatures ---------------------------------------------------------------------


def test_exports_every_stdlib_311_public_name() -> None:
    missing = [n for n in STDLIB_311_PUBLIC_NAMES if not hasattr(asyncore, n)]
    assert missing == []
    # ``from asyncore import *`` gives them too (the shim has an __all__, the stdlib none).
    namespace: Dict[str, Any] = {}
    exec("from asyncore import *", namespace)
    assert set(STDLIB_311_PUBLIC_NAMES) <= set(namespace)


def test_hardcoded_names_match_the_real_stdlib(stdlib: ModuleType) -> None:
    assert _public(stdlib) == STDLIB_311_PUBLIC_NAMES
    assert set(_public(stdlib)) <= set(_public(asyncore))


def test_names_have_the_stdlib_kind_and_value(stdlib: ModuleType) -> None:
    for name in _public(stdlib):
        theirs, ours = getattr(stdlib, name), getattr(asyncore, name)
        if isinstance(theirs, ModuleType):
            assert ours is theirs, name  # os, select, socket, sys, time, warnings
        elif isinstance(theirs, int):
            assert ours == theirs, name  # errno constants
        elif isinstance(theirs, type):
            assert isinstance(ours, type), name
        elif callable(theirs):
            assert callable(ours), name
    assert asyncore.errorcode is stdlib.errorcode
    assert issubclass(asyncore.ExitNow, Exception)


@pytest.mark.parametrize("name", sorted(STDLIB_311_SIGNATURES))
def test_module_functions_have_the_stdlib_signature(name: str) -> None:
    assert _params(getattr(asyncore, name)) == STDLIB_311_SIGNATURES[name]


def test_hardcoded_signatures_match_the_real_stdlib(stdlib: ModuleType) -> None:
    assert {n: _params(getattr(stdlib, n)) for n in STDLIB_311_SIGNATURES} == STDLIB_311_SIGNATURES


@pytest.mark.parametrize("cls", LOWERCASE_CLASSES)
def test_class_members_match_the_real_stdlib(stdlib: ModuleType, cls: str) -> None:
    """Every method and class attribute of the stdlib class exists on ours with the same
    parameter names; a default the stdlib has, ours has too (ours may add defaults)."""
    theirs, ours = getattr(stdlib, cls), getattr(asyncore, cls)
    for name, value in vars(theirs).items():
        if name in ("__dict__", "__weakref__", "__doc__", "__module__"):
            continue
        assert hasattr(ours, name), f"{cls}.{name} missing"
        mine = getattr(ours, name)
        if callable(value):
            want, got = _params(value), _params(mine)
            assert [n for n, _ in got] == [n for n, _ in want], f"{cls}.{name}"
            for (n, d_want), (_, d_got) in zip(want, got):
                if d_want is not REQUIRED:
                    assert d_got == d_want, f"{cls}.{name}({n}=...)"
        elif isinstance(mine, property):
            # state the loop must hear of is a property; its value on a new instance is the
            # stdlib's class default
            fresh = ours.__new__(ours)
            assert getattr(fresh, name) == value, f"{cls}.{name}"
        else:
            assert mine == value, f"{cls}.{name}"


# -- classes: repr and hierarchy --------------------------------------------------------------


def test_dispatcher_repr_reads_asyncore_dispatcher() -> None:
    d = asyncore.dispatcher(map={})
    assert repr(d) == f"<asyncore.dispatcher at {id(d):#x}>"
    d2 = asyncore.dispatcher_with_send(map={})
    assert repr(d2) == f"<asyncore.dispatcher_with_send at {id(d2):#x}>"


def test_listening_dispatcher_repr_matches_the_stdlib_format() -> None:
    private: Dict[int, Any] = {}
    d = asyncore.dispatcher(map=private)
    try:
        d.create_socket()
        d.bind(("127.0.0.1", 0))
        d.listen(5)
        assert repr(d) == f"<asyncore.dispatcher listening 127.0.0.1:0 at {id(d):#x}>"
    finally:
        asyncore.close_all(map=private)


def test_connected_dispatcher_repr() -> None:
    private: Dict[int, Any] = {}
    a, b = socket.socketpair()
    try:
        d = asyncore.dispatcher_with_send(a, map=private)
        assert re.fullmatch(r"<asyncore\.dispatcher_with_send connected .* at 0x[0-9a-f]+>", repr(d))
    finally:
        asyncore.close_all(map=private)
        b.close()


def test_file_classes_repr() -> None:
    r, w = os.pipe()
    private: Dict[int, Any] = {}
    try:
        fd = asyncore.file_dispatcher(r, map=private)
        assert repr(fd) == f"<asyncore.file_dispatcher connected at {id(fd):#x}>"
        wrapper = asyncore.file_wrapper(w)
        try:
            # No __repr__ of its own in the stdlib either: object's, with our module's name.
            assert repr(wrapper) == f"<asyncore.file_wrapper object at {id(wrapper):#x}>"
        finally:
            wrapper.close()
    finally:
        asyncore.close_all(map=private)
        os.close(r)
        os.close(w)


def test_user_subclass_repr_names_the_user_class() -> None:
    class Mine(asyncore.dispatcher):
        pass

    d = Mine(map={})
    assert repr(d) == f"<{__name__}.{Mine.__qualname__} at {id(d):#x}>"


@pytest.mark.parametrize("cls", LOWERCASE_CLASSES)
def test_lowercase_classes_live_in_the_asyncore_module(cls: str) -> None:
    assert getattr(asyncore, cls).__module__ == "asyncore"
    assert getattr(asyncore, cls).__name__ == cls


def test_class_hierarchy() -> None:
    assert isinstance(asyncore.dispatcher_with_send(map={}), asyncore.dispatcher)
    assert issubclass(asyncore.dispatcher_with_send, asyncore.dispatcher)
    assert issubclass(asyncore.file_dispatcher, asyncore.dispatcher)
    # The engine's classes are bases, so engine-level isinstance checks hold too.
    assert isinstance(asyncore.dispatcher(map={}), asyncore_ng.Dispatcher)
    assert issubclass(asyncore.dispatcher_with_send, asyncore_ng.DispatcherWithSend)


# -- socket_map rebinding ---------------------------------------------------------------------


class _Reader(asyncore.dispatcher):
    def __init__(self, sock: socket.socket, map: Optional[Dict[Any, Any]] = None) -> None:
        super().__init__(sock, map)  # map None: the module's socket_map, looked up now
        self.got = b""

    def handle_read(self) -> None:
        self.got += self.recv(100)

    def writable(self) -> bool:
        return False


@pytest.fixture(params=["dict", "ChannelMap"])
def rebound_map(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Tuple[Dict[Any, Any], Dict[Any, Any]]]:
    """``(new, original)``: ``asyncore.socket_map`` rebound to a new map for the test."""
    original = asyncore.socket_map
    new: Dict[Any, Any] = {} if request.param == "dict" else asyncore_ng.ChannelMap()
    monkeypatch.setattr(asyncore, "socket_map", new)
    try:
        yield new, original
    finally:
        asyncore_ng.loop.close_all(new, ignore_all=True)


def test_rebound_socket_map_is_used_by_dispatcher_close_all_and_loop(
    rebound_map: Tuple[Dict[Any, Any], Dict[Any, Any]],
) -> None:
    new, original = rebound_map
    assert new is not original
    a, b = socket.socketpair()
    c, d = socket.socketpair()
    bystander = _Reader(c, map=original)
    try:
        reader = _Reader(a)
        assert new == {a.fileno(): reader}
        assert a.fileno() not in original

        # loop(), poll() and poll2() without a map run the rebound one.
        b.sendall(b"one")
        d.sendall(b"not for you")
        asyncore.loop(timeout=DEADLINE, count=1)
        assert reader.got == b"one"
        b.sendall(b"two")
        asyncore.poll(timeout=DEADLINE)
        assert reader.got == b"onetwo"
        b.sendall(b"three")
        asyncore.poll2(timeout=DEADLINE)
        assert reader.got == b"onetwothree"
        assert bystander.got == b""

        # close_all() without a map closes the rebound map's channels, and only those.
        asyncore.close_all()
        assert new == {}
        assert reader.socket.fileno() == -1
        assert original.get(c.fileno()) is bystander and bystander.socket.fileno() != -1
        # With its map empty, loop() returns at once (the original map is not empty).
        asyncore.loop(timeout=DEADLINE)
    finally:
        bystander.close()
        for s in (a, b, c, d):
            s.close()


def test_rebinding_is_seen_by_dispatchers_created_later(monkeypatch: pytest.MonkeyPatch) -> None:
    first: Dict[Any, Any] = {}
    second: Dict[Any, Any] = {}
    monkeypatch.setattr(asyncore, "socket_map", first)
    one = asyncore.dispatcher()
    one.create_socket()
    monkeypatch.setattr(asyncore, "socket_map", second)
    two = asyncore.dispatcher()
    two.create_socket()
    try:
        assert list(first.values()) == [one]
        assert list(second.values()) == [two]
        # A channel keeps the map it was created with.
        one.close()
        assert first == {} and list(second.values()) == [two]
    finally:
        asyncore_ng.loop.close_all(first)
        asyncore_ng.loop.close_all(second)


# -- install() and shim_status() --------------------------------------------------------------


def test_install_is_idempotent_and_puts_ours_in_sys_modules() -> None:
    asyncore_ng.install()
    first = (sys.modules["asyncore"], sys.modules["asynchat"])
    first[0]._test_shim_sentinel = True  # a re-executed module would lose it
    try:
        asyncore_ng.install()
        asyncore_ng.install()
        assert (sys.modules["asyncore"], sys.modules["asynchat"]) == first
        assert all(_install.is_ours(m) for m in first)
        import asynchat
        import asyncore as again

        assert again is first[0] and asynchat is first[1]
        assert again._test_shim_sentinel is True
        assert asynchat.async_chat.__mro__.count(again.dispatcher) == 1
    finally:
        del first[0]._test_shim_sentinel


def _child_env(extra_path: Optional[str] = None) -> Dict[str, str]:
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(asyncore_ng.__file__)))
    paths = [extra_path] if extra_path else []
    if root not in {os.path.abspath(p) for p in site.getsitepackages()}:
        paths.append(root)
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    if paths:
        env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def _run_child(code: str, cwd: str, extra_path: Optional[str] = None, *flags: str) -> Any:
    out = subprocess.run(
        [sys.executable, *flags, "-c", code],
        env=_child_env(extra_path),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_install_replaces_a_stdlib_module_already_imported(tmp_path: Any) -> None:
    if _stdlib_asyncore() is None:
        pytest.skip("no stdlib asyncore on this Python (3.12+)")
    code = """if 1:
        import importlib.util, json, os, sys, warnings
        path = os.path.join(os.path.dirname(os.__file__), "asyncore.py")
        spec = importlib.util.spec_from_file_location("asyncore", path)
        stdlib = importlib.util.module_from_spec(spec)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            spec.loader.exec_module(stdlib)
        sys.modules["asyncore"] = stdlib
        import asyncore_ng
        asyncore_ng.install()
        import asyncore
        print(json.dumps([asyncore is stdlib, getattr(asyncore, "__asyncore_ng__", False)]))
    """
    assert _run_child(code, str(tmp_path)) == [False, True]


def test_shim_status_answers_in_process() -> None:
    asyncore_ng.install()
    status = asyncore_ng.shim_status()
    assert status == {"asyncore": "asyncore-ng", "asynchat": "asyncore-ng"}


def test_shim_status_tells_what_a_plain_import_gives(tmp_path: Any) -> None:
    """In a fresh interpreter, the status matches what ``import asyncore`` then finds."""
    code = """if 1:
        import json, os, sys, warnings
        import asyncore_ng
        status = asyncore_ng.shim_status()
        found = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            for name in ("asyncore", "asynchat"):
                module = __import__(name)
                found[name] = [getattr(module, "__asyncore_ng__", False), module.__file__]
        print(json.dumps([status, found, os.path.dirname(os.__file__)]))
    """
    status, found, stdlib_dir = _run_child(code, str(tmp_path))
    assert set(status) == {"asyncore", "asynchat"}
    for name, (ours, path) in found.items():
        if ours:
            assert status[name] == "asyncore-ng", (name, path)
        elif os.path.dirname(path) == stdlib_dir:
            assert status[name] == "stdlib", (name, path)
        else:
            assert status[name] == f"other: {path}", (name, path)
    if sys.version_info >= (3, 12):
        assert status == {"asyncore": "asyncore-ng", "asynchat": "asyncore-ng"}


def test_shim_status_detects_a_clashing_package(tmp_path: Any) -> None:
    """Another distribution's ``asyncore`` package (pyasyncore, standard-asyncore) found
    first is reported with its path, and install() still puts ours in front."""
    clash = tmp_path / "clash"
    (clash / "asyncore").mkdir(parents=True)
    fake = clash / "asyncore" / "__init__.py"
    fake.write_text("IMPOSTOR = True\n")
    code = """if 1:
        import json, asyncore_ng
        before = asyncore_ng.shim_status()
        asyncore_ng.install()
        import asyncore
        print(json.dumps([before, asyncore_ng.shim_status(), asyncore.__asyncore_ng__]))
    """
    before, after, ours = _run_child(code, str(tmp_path), str(clash))
    assert before["asyncore"] == f"other: {fake}"
    assert after["asyncore"] == "asyncore-ng"
    assert ours is True


def test_importing_the_shims_emits_no_warning(tmp_path: Any) -> None:
    code = """if 1:
        import json, warnings
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            import asyncore_ng
            asyncore_ng.install()
            import asyncore, asynchat
            assert asyncore.__asyncore_ng__ and asynchat.__asyncore_ng__
        print(json.dumps([f"{w.category.__name__}: {w.message}" for w in caught]))
    """
    assert _run_child(code, str(tmp_path), None, "-W", "error") == []


def test_plain_import_emits_no_deprecation_warning_on_312_plus(tmp_path: Any) -> None:
    if sys.version_info < (3, 12):
        pytest.skip("3.8-3.11: a plain `import asyncore` may give the stdlib's, which warns")
    code = "import json, asyncore, asynchat; print(json.dumps(asyncore.__asyncore_ng__))"
    assert _run_child(code, str(tmp_path), None, "-W", "error::DeprecationWarning") is True
