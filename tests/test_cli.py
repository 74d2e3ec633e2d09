"""The ``asyncore-ng`` command: ``run`` against ``python`` itself, the echo and chat demos, and
``status``.

The runner tests run each program twice or three times in fresh interpreters of the CPython
version running the tests (a base interpreter found through pyenv or PATH; skipped, with the
reason, where there is none), with the checkout's src/ on ``PYTHONPATH``: as ``python
PROGRAM``, as ``python -m asyncore_ng run PROGRAM`` and through a console script like the one
pip installs (``asyncore-ng run PROGRAM``), and require the same ``sys.argv``, ``sys.path``,
``__main__`` globals, output, traceback and exit status.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import pytest
from cli_support import (
    DEADLINE,
    SRC,
    Child,
    child_env,
    find_cpython,
    make_console_script,
    read_line,
)

from asyncore_ng.reactor import available_backends

#: The runner is compared with plain ``python`` of the version running the tests (a base
#: interpreter of it, not the venv): CI runs the suite on every version from 3.8 to 3.15, so
#: each is compared once (the tests start their own interpreters: running them for other
#: versions here would repeat the same runs in every session).
VERSIONS = [f"{sys.version_info[0]}.{sys.version_info[1]}"]

Result = Tuple[int, str, str]


@pytest.fixture(params=VERSIONS, scope="module")
def py(request: pytest.FixtureRequest) -> str:
    """A CPython interpreter of each version (not this test run's venv: a base interpreter)."""
    path = find_cpython(request.param)
    if path is None:
        pytest.skip(f"CPython {request.param} not found (neither in pyenv nor as python{request.param})")
    return path


def run(argv: Sequence[str], cwd: Path, env: Optional[Dict[str, str]] = None) -> Result:
    out = subprocess.run(
        list(argv),
        cwd=str(cwd),
        env=child_env() if env is None else env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=DEADLINE,
    )
    return out.returncode, out.stdout.decode("utf-8", "replace"), out.stderr.decode("utf-8", "replace")


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def launchers(py: str, tmp: Path) -> Dict[str, List[str]]:
    """How a program is started: plainly, through ``python -m asyncore_ng run`` and through a
    console script (its directory is what the interpreter puts first on sys.path)."""
    console = make_console_script(str(tmp / "bin"))
    return {
        "python": [py],
        "-m asyncore_ng run": [py, "-m", "asyncore_ng", "run"],
        "asyncore-ng run": [py, console, "run"],
    }


def assert_same(results: Dict[str, Result]) -> Result:
    """All launchers gave the same (status, stdout, stderr) as plain python; return it."""
    expected = results["python"]
    for how, got in results.items():
        assert got == expected, f"{how} differs from python:\n{got!r}\n!=\n{expected!r}"
    return expected


# -- scripts ---------------------------------------------------------------------------------

PROBE = '''\
"""The probe's docstring."""
import json
import sys

import helper

main = sys.modules["__main__"]
import asyncore
import asynchat

names = sorted(globals())
loader = globals().get("__loader__")
print(json.dumps({
    "argv": sys.argv,
    "path": sys.path,
    "name": __name__,
    "file": __file__,
    "spec": None if __spec__ is None else [__spec__.name, __spec__.origin, __spec__.parent],
    "package": __package__,
    "cached": globals().get("__cached__", "missing"),
    "doc": __doc__,
    "loader": [type(loader).__name__, getattr(loader, "name", None), getattr(loader, "path", None)],
    "globals": names,
    "main_is_this_module": main.__dict__ is globals(),
    "builtins_module": __builtins__ is __import__("builtins"),
    "annotations": globals().get("__annotations__", "missing"),
    "helper": helper.VALUE,
    "asyncore_ng": [asyncore.__asyncore_ng__, asynchat.__asyncore_ng__],
    "warnoptions": sys.warnoptions,
}))
'''


@pytest.fixture
def app(tmp_path: Path) -> Path:
    """``app/probe.py`` importing its sibling ``app/helper.py``."""
    write(tmp_path / "app" / "helper.py", "VALUE = 'the sibling module'\n")
    return write(tmp_path / "app" / "probe.py", PROBE)


def test_script_sees_what_python_gives_it(py: str, tmp_path: Path, app: Path) -> None:
    """From another directory, with a relative path: argv, sys.path (the script's directory
    first, not the launcher's or the current directory), the __main__ globals, __file__ (as
    given on 3.8, absolute later), the sibling import."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    results = {
        how: run([*cmd, "../app/probe.py", "a", "b c"], elsewhere)
        for how, cmd in launchers(py, tmp_path).items()
    }
    status, out, err = assert_same(results)
    assert (status, err) == (0, "")
    info = json.loads(out)
    assert info["argv"] == ["../app/probe.py", "a", "b c"]
    assert info["path"][0] == str(app.parent.resolve())
    assert str(elsewhere) not in info["path"] and str(tmp_path / "bin") not in info["path"]
    assert info["helper"] == "the sibling module"
    assert info["name"] == "__main__" and info["spec"] is None and info["main_is_this_module"]
    assert info["asyncore_ng"] == [True, True]


def test_script_from_the_root_directory_imports_its_sibling(py: str, tmp_path: Path, app: Path) -> None:
    """The reported bug: ``cd / && python -m asyncore_ng run /path/to/server.py``."""
    results = {how: run([*cmd, str(app)], Path("/")) for how, cmd in launchers(py, tmp_path).items()}
    status, out, err = assert_same(results)
    assert (status, err) == (0, "")
    info = json.loads(out)
    assert info["file"] == str(app)
    assert info["path"][0] == str(app.parent.resolve()) and "/" not in info["path"]


def test_symlinked_script_gets_its_real_directory(py: str, tmp_path: Path, app: Path) -> None:
    link_dir = tmp_path / "links"
    link_dir.mkdir()
    (link_dir / "probe.py").symlink_to(app)
    results = {how: run([*cmd, "links/probe.py"], tmp_path) for how, cmd in launchers(py, tmp_path).items()}
    status, out, err = assert_same(results)
    assert (status, err) == (0, "")
    assert json.loads(out)["path"][0] == str(app.parent.resolve())


def test_safe_path_adds_no_directory(py: str, tmp_path: Path, app: Path) -> None:
    """Under -P (3.11+) the interpreter puts no directory first: neither does the runner (the
    sibling import fails the same way)."""
    if sys.version_info < (3, 11):  # (``py`` is a base interpreter of this version: VERSIONS)
        pytest.skip("-P is new in Python 3.11")
    results = {
        how: run([cmd[0], "-P", *cmd[1:], str(app)], tmp_path) for how, cmd in launchers(py, tmp_path).items()
    }
    status, _, err = assert_same(results)
    assert status == 1 and err.endswith("ModuleNotFoundError: No module named 'helper'\n")


CASES = """\
import sys

def divide(x):
    return 1 / x

case = sys.argv[1]
print("started", case, flush=True)
if case == "exit3":
    sys.exit(3)
if case == "exit_message":
    sys.exit("fatal: a message for stderr")
if case == "exit_none":
    sys.exit()
if case == "uncaught":
    try:
        divide(0)
    except ZeroDivisionError:
        raise ValueError("while handling the division")
if case == "keyboard_interrupt":
    raise KeyboardInterrupt
if case == "custom_hook":
    def hook(etype, value, tb):
        print("custom hook:", etype.__name__, value, tb.tb_frame.f_code.co_filename == __file__, flush=True)
    sys.excepthook = hook
    divide(0)
if case.startswith("file_at_exit"):  # python FILE takes __file__ out of __main__ at its end
    import atexit
    g = globals()
    atexit.register(lambda: print("at exit:", "__file__" in g, "__cached__" in g, flush=True))
    sys.excepthook = lambda *info: print("hook:", "__file__" in g, "__cached__" in g, flush=True)
    if case == "file_at_exit_error":
        divide(0)
    if case == "file_at_exit_sys_exit":
        sys.exit(0)
if case == "atexit_after_error":
    import atexit
    atexit.register(print, "atexit handler ran", flush=True)
    divide(0)
print("ended", case, flush=True)
"""


@pytest.mark.parametrize(
    "case",
    [
        "exit3",
        "exit_message",
        "exit_none",
        "uncaught",
        "keyboard_interrupt",
        "custom_hook",
        "atexit_after_error",
        "file_at_exit",
        "file_at_exit_error",
        "file_at_exit_sys_exit",
        "ok",
    ],
)
def test_exit_status_and_traceback_are_python_s(py: str, tmp_path: Path, case: str) -> None:
    script = write(tmp_path / "cases.py", CASES)
    results = {how: run([*cmd, str(script), case], tmp_path) for how, cmd in launchers(py, tmp_path).items()}
    status, out, err = assert_same(results)
    expected_status = {
        "exit3": 3,
        "exit_message": 1,
        "exit_none": 0,
        "uncaught": 1,
        "keyboard_interrupt": -signal.SIGINT,
        "custom_hook": 1,
        "atexit_after_error": 1,
        "file_at_exit": 0,
        "file_at_exit_error": 1,
        "file_at_exit_sys_exit": 0,
        "ok": 0,
    }[case]
    assert status == expected_status, err
    assert out.startswith(f"started {case}\n")
    assert "asyncore_ng" not in err and "runpy" not in err  # no runner frame
    if case in ("uncaught", "keyboard_interrupt", "atexit_after_error"):
        assert err.startswith("Traceback (most recent call last):\n")
        assert f'  File "{script}", line' in err.splitlines()[1]
    if case == "uncaught":
        assert "During handling of the above exception, another exception occurred" in err
        assert err.endswith("ValueError: while handling the division\n")
    # From 3.14, python FILE takes __file__ and __cached__ out of __main__ before it reports an
    # uncaught exception, and on sys.exit() too; up to 3.13, after the report and not on exit.
    new = sys.version_info >= (3, 14)  # (``py`` is a base interpreter of this version: VERSIONS)
    if case == "custom_hook" and new:
        assert "Error in sys.excepthook:" in err and "NameError: name '__file__' is not defined" in err
    elif case == "custom_hook":
        assert out.endswith("custom hook: ZeroDivisionError division by zero True\n") and err == ""
    expected_end = {
        "file_at_exit": "at exit: False False\n",
        "file_at_exit_error": f"hook: {not new} {not new}\nat exit: False False\n",
        "file_at_exit_sys_exit": f"at exit: {not new} {not new}\n",
    }.get(case)
    if expected_end is not None:
        assert out.endswith(expected_end) and err == "", (out, err)


def test_syntax_error_is_reported_as_python_does(py: str, tmp_path: Path) -> None:
    script = write(tmp_path / "broken.py", "print('never')\ndef broken(:\n    pass\n")
    results = {how: run([*cmd, str(script)], tmp_path) for how, cmd in launchers(py, tmp_path).items()}
    status, out, err = assert_same(results)
    assert status == 1 and out == ""
    assert "SyntaxError" in err and "Traceback" not in err


def test_program_is_not_compiled_with_the_runner_s_future_flags(py: str, tmp_path: Path) -> None:
    """The runner's modules use ``from __future__ import annotations``; the program must not."""
    script = write(
        tmp_path / "annotations.py",
        """\
        def f(x: int) -> "str":
            pass
        print(f.__annotations__)
        """,
    )
    results = {how: run([*cmd, str(script)], tmp_path) for how, cmd in launchers(py, tmp_path).items()}
    assert assert_same(results) == (0, "{'x': <class 'int'>, 'return': 'str'}\n", "")


def test_directory_with_a_main_module(py: str, tmp_path: Path) -> None:
    write(tmp_path / "appdir" / "helper.py", "VALUE = 'next to __main__'\n")
    write(tmp_path / "appdir" / "__main__.py", PROBE)
    results = {how: run([*cmd, "appdir", "x"], tmp_path) for how, cmd in launchers(py, tmp_path).items()}
    status, out, err = assert_same(results)
    assert (status, err) == (0, "")
    info = json.loads(out)
    assert info["argv"] == ["appdir", "x"] and info["helper"] == "next to __main__"


def test_missing_script(py: str, tmp_path: Path) -> None:
    for how, cmd in launchers(py, tmp_path).items():
        status, out, err = run([*cmd, "nowhere.py"], tmp_path)
        assert (status, out) == (2, ""), how
        assert "can't open file" in err and "nowhere.py" in err and "[Errno 2]" in err, how


# -- modules (-m) ----------------------------------------------------------------------------

MODULE_PROBE = """\
import json
import sys

from . import sibling

loader = globals().get("__loader__")
print(json.dumps({
    "argv": sys.argv,
    "path": sys.path,
    "name": __name__,
    "file": __file__,
    "spec": [__spec__.name, __spec__.origin, __spec__.parent],
    "package": __package__,
    "cached": globals().get("__cached__", "missing"),  # (3.15: not set)
    "loader": type(loader).__name__,
    "globals": sorted(globals()),
    "main_is_this_module": sys.modules["__main__"].__dict__ is globals(),
    "sibling": sibling.VALUE,
    "package_imported": "pkg" in sys.modules,
}))
if len(sys.argv) > 1 and sys.argv[1] == "fail":
    raise LookupError("from the module")
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """``project/pkg/``: a package with a module, a sibling and a ``__main__``."""
    root = tmp_path / "project"
    write(root / "pkg" / "__init__.py", "")
    write(root / "pkg" / "sibling.py", "VALUE = 'relative import'\n")
    write(root / "pkg" / "mod.py", MODULE_PROBE)
    write(root / "pkg" / "__main__.py", MODULE_PROBE)
    return root


def module_launchers(py: str, tmp: Path) -> Dict[str, List[str]]:
    return {how: [*cmd, "-m"] for how, cmd in launchers(py, tmp).items()}


@pytest.mark.parametrize("module", ["pkg.mod", "pkg"])
def test_module_switch_is_python_s(py: str, tmp_path: Path, project: Path, module: str) -> None:
    results = {
        how: run([*cmd, module, "x", "-y"], project) for how, cmd in module_launchers(py, tmp_path).items()
    }
    status, out, err = assert_same(results)
    assert (status, err) == (0, "")
    info = json.loads(out)
    origin = str(project / "pkg" / ("mod.py" if module == "pkg.mod" else "__main__.py"))
    assert info["argv"] == [origin, "x", "-y"]
    assert info["path"][0] == str(project)
    assert info["spec"] == [f"{module}.__main__" if module == "pkg" else module, origin, "pkg"]
    assert info["sibling"] == "relative import" and info["main_is_this_module"]


def _without_runpy_frames(stderr: str) -> str:
    """python -m shows runpy's own frames first; the runner does not show its frames."""
    kept: List[str] = []
    skipping = False
    for line in stderr.splitlines(keepends=True):
        if line.startswith('  File "') and "runpy" in line:
            skipping = True
            continue
        if skipping and line.startswith("    "):
            continue
        skipping = False
        kept.append(line)
    return "".join(kept)


def test_module_traceback_and_status(py: str, tmp_path: Path, project: Path) -> None:
    results = {
        how: run([*cmd, "pkg.mod", "fail"], project) for how, cmd in module_launchers(py, tmp_path).items()
    }
    results = {how: (s, "", _without_runpy_frames(e)) for how, (s, _, e) in results.items()}
    status, _, err = assert_same(results)
    assert status == 1
    assert err.startswith("Traceback (most recent call last):\n")
    assert err.endswith("LookupError: from the module\n")
    assert "asyncore_ng" not in err


@pytest.mark.parametrize("module", ["pkg.nothing", "nothing.at.all", "pkg.mod.py"])
def test_module_not_found_is_reported_as_python_does(
    py: str, tmp_path: Path, project: Path, module: str
) -> None:
    results = {how: run([*cmd, module], project) for how, cmd in module_launchers(py, tmp_path).items()}
    status, _out, err = assert_same(results)
    assert status == 1
    assert err.startswith(f"{py}: ")


# -- warnings --------------------------------------------------------------------------------

WARNS = """\
import warnings
import asyncore
import asynchat
warnings.warn("a user warning")
warnings.warn("a deprecation", DeprecationWarning)
print("done", asyncore.__asyncore_ng__, asynchat.__asyncore_ng__, flush=True)
"""


@pytest.mark.parametrize(
    "flags, pythonwarnings",
    [
        ([], None),
        ([], "ignore"),
        ([], "error::DeprecationWarning"),
        (["-W", "error::UserWarning"], None),
        (["-W", "ignore::UserWarning"], "error"),
    ],
    ids=["default", "PYTHONWARNINGS=ignore", "PYTHONWARNINGS=error::Deprecation", "-W error::User", "-W+env"],
)
def test_warning_settings_are_respected(
    py: str, tmp_path: Path, flags: List[str], pythonwarnings: Optional[str]
) -> None:
    script = write(tmp_path / "warns.py", WARNS)
    extra = {} if pythonwarnings is None else {"PYTHONWARNINGS": pythonwarnings}
    env = child_env(**extra)
    console = make_console_script(str(tmp_path / "bin"))
    results = {
        "python": run([py, *flags, str(script)], tmp_path, env),
        "-m asyncore_ng run": run([py, *flags, "-m", "asyncore_ng", "run", str(script)], tmp_path, env),
        "asyncore-ng run": run([py, *flags, console, "run", str(script)], tmp_path, env),
    }
    assert_same(results)


@pytest.mark.parametrize("option", ["error::UserWarning", "ignore", "always::DeprecationWarning"])
def test_run_w_option_is_python_s_w(py: str, tmp_path: Path, option: str) -> None:
    script = write(tmp_path / "warns.py", WARNS)
    console = make_console_script(str(tmp_path / "bin"))
    results = {
        "python": run([py, "-W", option, str(script)], tmp_path),
        "-m asyncore_ng run": run([py, "-m", "asyncore_ng", "run", "-W", option, str(script)], tmp_path),
        "asyncore-ng run": run([py, console, "run", f"-W{option}", str(script)], tmp_path),
    }
    assert_same(results)


def test_invalid_w_option_is_reported_and_ignored(tmp_path: Path) -> None:
    script = write(tmp_path / "quiet.py", "print('ran')\n")
    status, out, err = run([sys.executable, "-m", "asyncore_ng", "run", "-W", "bogus", str(script)], tmp_path)
    assert (status, out) == (0, "ran\n")
    assert err == "Invalid -W option ignored: invalid action: 'bogus'\n"


# -- on 3.8-3.11 the stdlib's asyncore would win ----------------------------------------------


@pytest.fixture
def installed_like(tmp_path: Path) -> Dict[str, str]:
    """An environment where asyncore-ng comes *after* the standard library on sys.path, as
    from site-packages: a sitecustomize appends src/."""
    boot = tmp_path / "boot"
    write(boot / "sitecustomize.py", f"import sys\nsys.path.append({SRC!r})\n")
    return child_env(pythonpath=str(boot))


def test_runner_gives_asyncore_ng_where_the_stdlib_would_win(
    py: str, tmp_path: Path, installed_like: Dict[str, str]
) -> None:
    script = write(
        tmp_path / "which.py",
        """\
        import asyncore, asynchat
        print(getattr(asyncore, "__asyncore_ng__", False), getattr(asynchat, "__asyncore_ng__", False))
        print(asyncore.__file__)
        """,
    )
    quiet = ["-W", "ignore::DeprecationWarning"]
    status, out, _ = run([py, *quiet, str(script)], tmp_path, installed_like)
    stdlib_wins = out.startswith("False False\n")
    version = run([py, "-c", "import sys; print(sys.version_info[:2] < (3, 12))"], tmp_path)[1]
    assert stdlib_wins == (version.strip() == "True"), out
    # Through the runner: ours on every version, and no DeprecationWarning (an error here).
    status, out, err = run(
        [py, "-W", "error::DeprecationWarning", "-m", "asyncore_ng", "run", str(script)],
        tmp_path,
        installed_like,
    )
    assert (status, err) == (0, "")
    assert out.splitlines() == ["True True", os.path.join(SRC, "asyncore", "__init__.py")]


# -- usage -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "a script or -m MODULE is required"),
        (["--bogus", "x.py"], "unrecognized option '--bogus'"),
        (["-m"], "expected a module name"),
        (["--workers", "0", "x.py"], "at least 1"),
        (["--workers"], "expected a number"),
        (["-W"], "expected a warning filter"),
        (["-"], "standard input is not supported"),
    ],
)
def test_run_usage_errors(tmp_path: Path, args: List[str], message: str) -> None:
    status, out, err = run([sys.executable, "-m", "asyncore_ng", "run", *args], tmp_path)
    assert status == 2 and out == ""
    assert err.startswith("usage: asyncore-ng run") and message in err


def test_help_and_version(tmp_path: Path) -> None:
    status, out, _ = run([sys.executable, "-m", "asyncore_ng", "run", "--help"], tmp_path)
    assert status == 0 and "--workers N" in out
    status, out, _ = run([sys.executable, "-m", "asyncore_ng", "--help"], tmp_path)
    assert status == 0 and all(word in out for word in ("run", "echo", "chat", "status"))
    status, out, _ = run([sys.executable, "-m", "asyncore_ng", "--version"], tmp_path)
    import asyncore_ng

    assert (status, out) == (0, f"asyncore-ng {asyncore_ng.__version__}\n")


def test_options_after_the_script_belong_to_it(tmp_path: Path) -> None:
    script = write(tmp_path / "args.py", "import sys\nprint(sys.argv[1:])\n")
    status, out, err = run(
        [sys.executable, "-m", "asyncore_ng", "run", str(script), "--workers", "3", "-W", "x", "-m", "y"],
        tmp_path,
    )
    assert (status, err) == (0, "")
    assert out == "['--workers', '3', '-W', 'x', '-m', 'y']\n"


def test_installed_console_script(tmp_path: Path, app: Path) -> None:
    """The ``asyncore-ng`` script pip installed beside this interpreter, when there is one
    (scripts/test.sh's venvs)."""
    script = os.path.join(os.path.dirname(sys.executable), "asyncore-ng")
    if not os.path.exists(script):
        pytest.skip(f"no asyncore-ng console script beside {sys.executable} (package not installed here)")
    env = child_env(pythonpath=None)
    status, out, err = run([script, "run", str(app), "z"], Path("/"), env)
    assert (status, err) == (0, "")
    info = json.loads(out)
    assert info["argv"] == [str(app), "z"] and info["path"][0] == str(app.parent.resolve())
    assert os.path.dirname(script) not in info["path"]
    status, out, err = run([script, "status"], tmp_path, env)
    expected = "asyncore-ng" if sys.version_info >= (3, 12) else "stdlib"
    assert status == 0 and f"import asyncore: {expected} (" in out


# -- status ----------------------------------------------------------------------------------


def status_json(cwd: Path, env: Dict[str, str], python: str = sys.executable) -> Tuple[int, Dict[str, Any]]:
    status, out, err = run([python, "-m", "asyncore_ng", "status", "--json"], cwd, env)
    assert err == ""
    report: Dict[str, Any] = json.loads(out)
    return status, report


def test_status_text(tmp_path: Path) -> None:
    status, out, err = run([sys.executable, "-m", "asyncore_ng", "status"], tmp_path)
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].startswith("asyncore-ng ")
    assert f"import asyncore: asyncore-ng ({os.path.join(SRC, 'asyncore', '__init__.py')})" in lines
    assert f"import asynchat: asyncore-ng ({os.path.join(SRC, 'asynchat', '__init__.py')})" in lines
    assert any(line.startswith("clashes: none") for line in lines)
    best = f"backend: {available_backends()[0]} (the best available: {', '.join(available_backends())}"
    best += ", asyncio"
    assert any(line.startswith(best) for line in lines), lines


def test_status_names_the_versions_ci_runs(tmp_path: Path) -> None:
    """``asyncore-ng status``, the package's classifiers and scripts/test.sh name the same
    CPython versions, and this one is among them."""
    from asyncore_ng import TESTED_PYTHONS
    from asyncore_ng.cli import _tested_line

    names = [f"{major}.{minor}" for major, minor in TESTED_PYTHONS]
    _, report = status_json(tmp_path, child_env())
    assert report["python"]["tested"] is True and report["python"]["tested_versions"] == names
    _, out, _ = run([sys.executable, "-m", "asyncore_ng", "status"], tmp_path)
    assert f"    a version the whole test suite runs on in CI (CPython {names[0]}-{names[-1]})" in out
    other = dict(report["python"], tested=False, version="3.7.17")
    assert _tested_line(other) == (
        f"    not tested: CI runs the whole test suite on CPython {names[0]}-{names[-1]}, not CPython 3.7.17"
    )
    root = Path(SRC).parent
    with open(root / "pyproject.toml") as f:
        classifiers = re.findall(r'"Programming Language :: Python :: (3\.\d+)"', f.read())
    assert classifiers == names
    with open(root / "scripts" / "test.sh") as f:
        default = re.search(r'^pythons=\$\{PYTHONS:-"([^"]*)"\}', f.read(), re.M)
    assert default is not None and default.group(1).split() == names


def test_status_json_and_backend(tmp_path: Path) -> None:
    status, report = status_json(tmp_path, child_env())
    assert status == 0
    assert report["modules"]["asyncore"]["resolves_to"] == "asyncore-ng"
    assert report["modules"]["asynchat"]["path"] == os.path.join(SRC, "asynchat", "__init__.py")
    epoll = available_backends()[0] == "epoll"
    assert report["backend"] == {
        "in_use": available_backends()[0],
        "available": available_backends(),
        "event_loops": {"asyncio": epoll, "uvloop": epoll and importlib.util.find_spec("uvloop") is not None},
        "ASYNCORE_NG_BACKEND": None,
    }
    status, report = status_json(tmp_path, child_env(ASYNCORE_NG_BACKEND="poll"))
    assert status == 0 and report["backend"]["in_use"] == "poll"
    if epoll:  # the asyncio bridge (asyncore_ng.aio) nests the epoll poller
        status, report = status_json(tmp_path, child_env(ASYNCORE_NG_BACKEND="asyncio"))
        assert status == 0 and report["backend"]["in_use"] == "asyncio"
    status, out, _ = run(
        [sys.executable, "-m", "asyncore_ng", "status"], tmp_path, child_env(ASYNCORE_NG_BACKEND="kq")
    )
    assert status == 1 and "ASYNCORE_NG_BACKEND='kq' is not available here" in out


def test_status_where_the_stdlib_wins(tmp_path: Path, installed_like: Dict[str, str]) -> None:
    py311 = find_cpython("3.11")
    if py311 is None:
        pytest.skip("CPython 3.11 not found")
    status, report = status_json(tmp_path, installed_like, py311)
    assert status == 0
    module = report["modules"]["asyncore"]
    assert module["resolves_to"] == "stdlib" and module["path"].endswith("/asyncore.py")
    assert "asyncore-ng run" in module["why"]


def test_status_reports_clashing_distributions(tmp_path: Path) -> None:
    site = tmp_path / "site"
    write(
        site / "pyasyncore-1.0.4.dist-info" / "METADATA",
        "Metadata-Version: 2.1\nName: pyasyncore\nVersion: 1.0.4\n",
    )
    (site / "pyasyncore-1.0.4.dist-info" / "RECORD").write_text("")
    env = child_env(pythonpath=os.pathsep.join([SRC, str(site)]))
    status, report = status_json(tmp_path, env)
    assert status == 0 and report["clashes"] == {"pyasyncore": "1.0.4"}
    _, out, _ = run([sys.executable, "-m", "asyncore_ng", "status"], tmp_path, env)
    assert "clash: pyasyncore 1.0.4 is installed" in out


def test_status_detects_an_overwritten_shim(tmp_path: Path) -> None:
    """pyasyncore installed after asyncore-ng writes its asyncore/__init__.py over ours."""
    copy = tmp_path / "src"
    shutil.copytree(SRC, str(copy), ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "asyncore" / "__init__.py").write_text("# pyasyncore's copy of the stdlib module\n")
    status, report = status_json(tmp_path, child_env(pythonpath=str(copy)))
    assert status == 1
    module = report["modules"]["asyncore"]
    assert module["resolves_to"] == "other" and "overwritten" in module["why"]
    assert report["modules"]["asynchat"]["resolves_to"] == "asyncore-ng"


# -- the demo servers ------------------------------------------------------------------------


def start_demo(kind: str, *args: str) -> Tuple[Child, int]:
    child = Child([sys.executable, "-m", "asyncore_ng", kind, "--port", "0", *args], child_env())
    match = re.fullmatch(r"listening on 127\.0\.0\.1:(\d+)", child.line())
    assert match, child.seen
    return child, int(match.group(1))


def echo_roundtrip(sock: socket.socket, payload: bytes) -> bytes:
    sock.sendall(payload)
    got = bytearray()
    while len(got) < len(payload):
        chunk = sock.recv(1 << 20)
        if not chunk:
            break
        got += chunk
    return bytes(got)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_echo_demo(signum: int) -> None:
    child, port = start_demo("echo")
    with child:
        with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as a, socket.create_connection(
            ("127.0.0.1", port), timeout=DEADLINE
        ) as b:
            assert echo_roundtrip(a, b"hello\n") == b"hello\n"
            assert echo_roundtrip(b, b"world") == b"world"
            big = os.urandom(1 << 20)
            assert echo_roundtrip(a, big) == big
            logged = {child.line(), child.line()}
            assert logged == {f"connection from 127.0.0.1:{s.getsockname()[1]}" for s in (a, b)}
            child.signal(signum)
            assert child.wait() == 0
            assert a.recv(10) == b""  # closed by the server on its way out
        assert child.rest("err") == []


def chat_line(sock: socket.socket) -> str:
    return read_line(sock).decode("utf-8").rstrip("\r\n")


def test_chat_demo() -> None:
    child, port = start_demo("chat", "--quiet")
    with child:
        with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as a:
            assert chat_line(a).startswith("* welcome, you are guest1; here: nobody else.")
            with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as b:
                assert chat_line(b).startswith("* welcome, you are guest2; here: guest1.")
                assert chat_line(a) == "* guest2 joined"
                a.sendall(b"hello, anyone?\r\n")
                assert chat_line(b) == "guest1: hello, anyone?"
                b.sendall(b"/nick bob\n")
                assert chat_line(a) == "* guest2 is now bob" and chat_line(b) == "* guest2 is now bob"
                b.sendall("héllo in two pieces".encode()[:3])
                b.sendall("héllo in two pieces".encode()[3:] + b"\n")
                assert chat_line(a) == "bob: héllo in two pieces"
                a.sendall(b"/who\n")
                assert chat_line(a) == "* here: guest1, bob"
                b.sendall(b"/quit\n")
                assert chat_line(b) == "* bye" and b.recv(10) == b""
                assert chat_line(a) == "* bob left"
            with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as c:
                assert chat_line(c).startswith("* welcome, you are guest3; here: guest1.")
                assert chat_line(a) == "* guest3 joined"
            assert chat_line(a) == "* guest3 left"  # went away without /quit
            child.signal(signal.SIGTERM)
            assert child.wait() == 0
        assert child.rest("out") == [f"listening on 127.0.0.1:{port}"]
        assert child.rest("err") == []


def test_demo_reports_a_port_in_use() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        status, out, err = run(
            [sys.executable, "-m", "asyncore_ng", "echo", "--port", str(port)], Path(SRC).parent
        )
    assert status == 1 and out == ""
    assert err.startswith(f"asyncore-ng echo: cannot listen on 127.0.0.1:{port}: ")
