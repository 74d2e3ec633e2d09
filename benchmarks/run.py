#!/usr/bin/env python3
"""The asyncore-ng echo benchmarks: one command, peers in the same run.

    python3 benchmarks/run.py                 # everything: 7-9 minutes on 2 cores
    python3 benchmarks/run.py --quick         # a smoke run of about a minute
    python3 benchmarks/run.py --only S2,S4 --peers 'ng-*,asyncio-3.13'
    python3 benchmarks/run.py --instructions  # callgrind instruction counts per round trip
    python3 benchmarks/run.py --write         # also rewrite our section of benchmarks/RESULTS.md

It builds what it needs itself: the C load generator and the C echo server with the system
``cc`` (into benchmarks/build/), and virtual environments under benchmarks/.venvs/ from pyenv's
CPython 3.11 and 3.13.  asyncore-ng is built from this checkout and reinstalled on every run,
so the figures are those of the current tree.  See benchmarks/README.md for what is measured
and how.

Any python3 >= 3.8 runs this file; it uses the standard library only.
"""

from __future__ import annotations

import argparse
import atexit
import datetime
import fnmatch
import glob
import json
import os
import platform
import re
import select
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import IO, Any, Dict, List, Optional, Sequence, Tuple

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH_DIR)
BUILD_DIR = os.path.join(BENCH_DIR, "build")
VENV_DIR = os.path.join(BENCH_DIR, ".venvs")
SERVER_DIR = os.path.join(BENCH_DIR, "servers")
RESULTS_MD = os.path.join(BENCH_DIR, "RESULTS.md")
SECTION_TITLE = "## Echo benchmarks"
LOADGEN = os.path.join(BUILD_DIR, "loadgen")
C_ECHO = os.path.join(BUILD_DIR, "c_echo")
TLS_LOADGEN = os.path.join(BUILD_DIR, "tls_loadgen")
PLOT_SCRIPT = os.path.join(BENCH_DIR, "plot.py")
DOCS_PLOTS = os.path.join(ROOT, "docs", "img", "benchmarks")  # where --write puts the plots
DOCS_VENV_PYTHON = os.path.join(ROOT, ".ci", "venvs", "docs", "bin", "python")  # scripts/docs.sh
MIB = 1 << 20
DISTURBED = 0.10  # a window in which server or client waited this long for a CPU is redone


def log(message: str) -> None:
    """Progress goes to stderr, so that stdout carries only the final tables."""
    sys.stderr.write("[{}] {}\n".format(time.strftime("%H:%M:%S"), message))
    sys.stderr.flush()


# ---------------------------------------------------------------------------------------------
# Child processes: every one is started in its own session and recorded, so that an error, a
# Ctrl-C or a SIGTERM still kills exactly the processes this run started, and nothing else.
# ---------------------------------------------------------------------------------------------
_LIVE: Dict[int, subprocess.Popen[bytes]] = {}


def spawn(argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    proc: subprocess.Popen[bytes] = subprocess.Popen(list(argv), start_new_session=True, **kwargs)
    _LIVE[proc.pid] = proc
    return proc


def reap(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL, grace: float = 5.0) -> None:
    """Stop a child we started (its whole process group) and wait for it, bounded in time."""
    try:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=5.0)
    finally:
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        _LIVE.pop(proc.pid, None)


def reap_all() -> None:
    for proc in list(_LIVE.values()):
        try:
            reap(proc, grace=2.0)
        except (OSError, subprocess.TimeoutExpired):
            pass


def _terminate(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


# ---------------------------------------------------------------------------------------------
# Settings, scenarios, peers
# ---------------------------------------------------------------------------------------------
@dataclass
class Settings:
    reps: int = 3
    warmup: float = 0.25
    duration: float = 1.25
    idle: int = 10000
    accept_cap: float = 10.0
    stream_bytes: int = 256 * MIB
    instr_counts: Tuple[int, int] = (2000, 22000)
    retries: int = 40  # per run: re-measurements of windows disturbed by other processes
    budget: float = 540.0  # seconds: no re-measurement that would end the run later than this
    quick: bool = False


@dataclass
class Scenario:
    key: str
    title: str
    kind: str  # "echo" (dispatcher_with_send echo), "line" (async_chat line echo), "tls" (TLS echo)
    mode: str  # loadgen mode
    conns: int = 1
    idle: int = 0
    unit: str = "rt"  # "rt" (round trips) or "MB" (stream)


SCENARIOS: List[Scenario] = [
    Scenario("S1", "S1: one connection, 64-byte ping-pong", "echo", "pingpong", 1),
    Scenario("S2", "S2: 100 connections, 64-byte ping-pong", "echo", "pingpong", 100),
    Scenario("S2b", "S2b: 10 connections, 64-byte ping-pong (the reference for S4)", "echo",
             "pingpong", 10),
    Scenario("S3", "S3: 1,000 connections, 64-byte ping-pong", "echo", "pingpong", 1000),
    Scenario("S4", "S4: {idle} idle connections beside 10 busy ones", "echo", "idle", 10,
             idle=-1),
    Scenario("S5", "S5: one connection streaming {mib} MiB both ways", "echo", "stream",
             unit="MB"),
    Scenario("S6", "S6: 100 connections of line echo (async_chat, asyncio line Protocol)",
             "line", "line", 100),
    # TLS: tls_loadgen.c (OpenSSL, TLS 1.3) against TLS echo servers.
    Scenario("T2", "T2: 100 TLS connections, 64-byte ping-pong", "tls", "pingpong", 100),
    Scenario("T5", "T5: one TLS connection streaming {mib} MiB both ways", "tls", "stream",
             unit="MB"),
]


@dataclass
class Peer:
    """One server implementation as measured: which interpreter, which script, which options."""

    name: str
    family: str  # c, selectors, asyncio, uvloop, asyncore (stdlib or pyasyncore), ng
    interp: str  # "3.11", "3.13", or "" for C
    venv: Optional[str]
    echo: Optional[List[str]]  # command after the interpreter (or the whole command for C)
    line: Optional[List[str]]
    module_check: str = ""  # a regex the announced module path must match
    select_semantics: bool = False
    default: bool = True  # in the default set (else only when named in --peers)
    describe: str = ""
    # Worker processes (`asyncore-ng run --workers N`): the script gets a fixed port, held by the
    # harness meanwhile; the server is not pinned to one CPU; its CPU is summed over the workers.
    workers: int = 0
    tls: Optional[List[str]] = None  # the TLS echo server (scenarios of kind "tls")
    # Extra environment for the server (ASYNCORE_NG_BACKEND for the asyncio bridge peers).
    env: Optional[Dict[str, str]] = None

    def command(self, kind: str) -> Optional[List[str]]:
        if kind == "tls":
            return self.tls
        return self.echo if kind == "echo" else self.line


def _script(name: str, *args: str) -> List[str]:
    return [os.path.join(SERVER_DIR, name), *args]


def _ng(name: str, *args: str) -> List[str]:
    return [os.path.join(SERVER_DIR, "with_asyncore_ng.py"), os.path.join(SERVER_DIR, name), *args]


def _ng_workers(workers: int, name: str, *args: str) -> List[str]:
    """The script under asyncore-ng's own runner with worker processes (the console script's
    code path: `python -m asyncore_ng` is `asyncore-ng`)."""
    return ["-m", "asyncore_ng", "run", "--workers", str(workers), os.path.join(SERVER_DIR, name), *args]


STDLIB_RE = r"/lib/python3\.11/asyn(core|chat)\.py$"
PYASYNCORE_RE = r"/\.venvs/py313/lib/python3\.13/site-packages/asyn(core|chat)/"
NG_RE = r"/site-packages/"

PEERS: List[Peer] = [
    Peer("c-echo", "c", "", None, [C_ECHO], [C_ECHO],
         describe="minimal epoll echo server in C: the load generator's ceiling"),
    Peer("selectors-3.11", "selectors", "3.11", "py311", _script("selectors_echo.py"), None,
         describe="minimal hand-written selectors loop (the pure-Python floor)"),
    Peer("selectors-3.13", "selectors", "3.13", "py313", _script("selectors_echo.py"), None,
         describe="minimal hand-written selectors loop (the pure-Python floor)"),
    Peer("asyncio-3.11", "asyncio", "3.11", "py311", _script("asyncio_echo.py"),
         _script("asyncio_line_echo.py"), tls=_script("asyncio_tls_echo.py"),
         describe="asyncio Protocol echo / line Protocol; TLS: asyncio.start_server(ssl=...)"),
    Peer("asyncio-3.13", "asyncio", "3.13", "py313", _script("asyncio_echo.py"),
         _script("asyncio_line_echo.py"), tls=_script("asyncio_tls_echo.py"),
         describe="asyncio Protocol echo / line Protocol; TLS: asyncio.start_server(ssl=...)"),
    Peer("uvloop-3.13", "uvloop", "3.13", "py313", _script("asyncio_echo.py", "--uvloop"),
         _script("asyncio_line_echo.py", "--uvloop"),
         describe="the asyncio Protocols on uvloop"),
    Peer("asyncore-3.11-select", "asyncore", "3.11", "py311",
         _script("asyncore_echo.py", "--select"), _script("asynchat_line_echo.py", "--select"),
         module_check=STDLIB_RE, select_semantics=True,
         describe="stdlib asyncore/asynchat, loop(use_poll=False)"),
    Peer("asyncore-3.11-poll", "asyncore", "3.11", "py311", _script("asyncore_echo.py", "--poll"),
         _script("asynchat_line_echo.py", "--poll"), module_check=STDLIB_RE,
         describe="stdlib asyncore/asynchat, loop(use_poll=True)"),
    Peer("pyasyncore-3.13", "asyncore", "3.13", "py313", _script("asyncore_echo.py", "--poll"),
         _script("asynchat_line_echo.py", "--poll"), module_check=PYASYNCORE_RE,
         describe="pyasyncore/pyasynchat (verbatim copies), loop(use_poll=True)"),
    Peer("ng-3.11", "ng", "3.11", "py311", _ng("asyncore_echo.py", "--poll"),
         _ng("asynchat_line_echo.py", "--poll"), module_check=NG_RE,
         tls=_ng("tls_echo.py", "--poll"),
         describe="asyncore-ng running the same asyncore/asynchat scripts, use_poll=True; "
                  "TLS: dispatcher_with_send with asyncore_ng.tls.TLSMixin"),
    Peer("ng-3.13", "ng", "3.13", "py313-ng", _ng("asyncore_echo.py", "--poll"),
         _ng("asynchat_line_echo.py", "--poll"), module_check=NG_RE,
         tls=_ng("tls_echo.py", "--poll"),
         describe="asyncore-ng running the same asyncore/asynchat scripts, use_poll=True; "
                  "TLS: dispatcher_with_send with asyncore_ng.tls.TLSMixin"),
    Peer("ng-3.13-bulk", "ng", "3.13", "py313-ng", _ng("asyncore_echo.py", "--poll"),
         _ng("asynchat_line_echo.py", "--poll"), module_check=NG_RE,
         env={"ASYNCORE_NG_BULK_INPUT": "1"},
         describe="asyncore-ng, the same scripts with bulk input on (ASYNCORE_NG_BULK_INPUT=1: "
                  "read-ahead, bursts of handle_read in one pass, corked replies)"),
    Peer("ng-3.13-select", "ng", "3.13", "py313-ng", _ng("asyncore_echo.py", "--select"),
         _ng("asynchat_line_echo.py", "--select"), module_check=NG_RE, default=False,
         describe="asyncore-ng, use_poll=False (select semantics, no FD_SETSIZE limit)"),
    Peer("ng-3.13-workers2", "ng", "3.13", "py313-ng",
         _ng_workers(2, "asyncore_echo.py", "--poll"),
         _ng_workers(2, "asynchat_line_echo.py", "--poll"), module_check=NG_RE, default=False,
         workers=2,
         describe="asyncore-ng, the same scripts under `python -m asyncore_ng run --workers 2`: "
                  "two worker processes sharing the port (SO_REUSEPORT), not pinned (on 2 CPUs "
                  "they share them with the load generator), CPU summed over both; compare with "
                  "ng-3.13, which is one process on one CPU"),
    Peer("ng-3.13-asyncio", "ng", "3.13", "py313-ng", _ng("asyncore_echo.py", "--poll"),
         _ng("asynchat_line_echo.py", "--poll"), module_check=NG_RE,
         env={"ASYNCORE_NG_BACKEND": "asyncio"},
         describe="asyncore-ng, the same scripts with ASYNCORE_NG_BACKEND=asyncio: loop()'s "
                  "passes on an asyncio event loop (asyncore_ng.aio)"),
    Peer("ng-3.13-uvloop", "ng", "3.13", "py313-ng", _ng("asyncore_echo.py", "--poll"),
         _ng("asynchat_line_echo.py", "--poll"), module_check=NG_RE,
         env={"ASYNCORE_NG_BACKEND": "uvloop"},
         describe="asyncore-ng, the same scripts with ASYNCORE_NG_BACKEND=uvloop"),
    Peer("ng-3.13-aio-nested", "ng", "3.13", "py313-ng",
         _ng("asyncore_echo_aio.py", "--poll", "--mechanism", "nested"), None,
         module_check=NG_RE, default=False,
         describe="the echo classes served by `await asyncore_ng.aio.serve()` on a running "
                  "asyncio loop: the reactor's epoll descriptor nested in it (the mechanism used)"),
    Peer("ng-3.13-aio-readers", "ng", "3.13", "py313-ng",
         _ng("asyncore_echo_aio.py", "--poll", "--mechanism", "readers"), None,
         module_check=NG_RE, default=False,
         describe="the same on a running asyncio loop with one asyncio reader/writer per channel "
                  "(servers/aio_readers.py: the prototype of the mechanism not chosen)"),
]

# Peers whose figures are the references of the ratio columns, per interpreter.
ASYNCIO_REF = {"3.11": "asyncio-3.11", "3.13": "asyncio-3.13"}
ASYNCORE_REF = {"3.11": "asyncore-3.11-poll", "3.13": "pyasyncore-3.13"}
SELECTORS_REF = {"3.11": "selectors-3.11", "3.13": "selectors-3.13"}

# Instruction counts (--instructions): S2-shaped echo and S6-shaped line echo on 3.13.
INSTR_PEERS = {
    "echo": ["ng-3.13", "asyncio-3.13", "selectors-3.13", "uvloop-3.13", "pyasyncore-3.13",
             "ng-3.13-asyncio", "ng-3.13-uvloop", "ng-3.13-aio-nested", "ng-3.13-aio-readers"],
    "line": ["ng-3.13", "asyncio-3.13", "pyasyncore-3.13", "ng-3.13-asyncio", "ng-3.13-uvloop"],
    # S1 shape (one connection: one event per pass), where a bridge's cost per pass shows.
    "echo1": ["ng-3.13", "asyncio-3.13", "uvloop-3.13", "ng-3.13-asyncio", "ng-3.13-uvloop",
              "ng-3.13-aio-nested", "ng-3.13-aio-readers"],
}
# Instruction count kinds: (server kind, connections).
INSTR_SHAPES = {"echo": ("echo", 100), "line": ("line", 100), "echo1": ("echo", 1)}

# Virtual environments: name -> (CPython version, packages).  asyncore-ng is installed into
# py311 and py313-ng; never into py313, where pyasyncore's asyncore/ package lives (the two
# distributions ship the same top-level package names, and pip would overlay one on the other).
VENVS: Dict[str, Tuple[str, List[str]]] = {
    "py311": ("3.11", ["setuptools>=61", "wheel"]),
    "py313": ("3.13", ["pyasyncore", "pyasynchat", "uvloop"]),
    "py313-ng": ("3.13", ["setuptools>=61", "wheel", "uvloop"]),  # uvloop: the bridge peers
}
NG_VENVS = ["py311", "py313-ng"]


# ---------------------------------------------------------------------------------------------
# Building and installing
# ---------------------------------------------------------------------------------------------
class Environment:
    """What setup found or built: interpreters, venv pythons, versions, and what failed."""

    def __init__(self) -> None:
        self.base_python: Dict[str, str] = {}  # "3.11" -> pyenv interpreter
        self.venv_python: Dict[str, str] = {}  # venv name -> its python
        self.broken: Dict[str, str] = {}  # venv name -> why it cannot be used
        self.ng_error: Optional[str] = None  # why asyncore-ng could not be installed
        self.versions: Dict[str, str] = {}  # "python3.11" -> "3.11.7", "uvloop" -> ...

    def python_for(self, peer: Peer) -> Tuple[Optional[str], Optional[str]]:
        """(interpreter path, None) or (None, reason it is unavailable)."""
        if peer.venv is None:
            return None, None
        if peer.venv in self.broken:
            return None, self.broken[peer.venv]
        if peer.family == "ng" and self.ng_error:
            return None, self.ng_error
        return self.venv_python[peer.venv], None


def _version_key(path: str) -> Tuple[int, ...]:
    name = os.path.basename(os.path.dirname(os.path.dirname(path)))
    return tuple(int(part) for part in name.split("."))


def find_pyenv_python(version: str) -> Optional[str]:
    roots = []
    if os.environ.get("PYENV_ROOT"):
        roots.append(os.environ["PYENV_ROOT"])
    if shutil.which("pyenv"):
        try:
            out = subprocess.run(["pyenv", "root"], stdout=subprocess.PIPE, timeout=20,
                                 text=True, check=False).stdout.strip()
            if out:
                roots.append(out)
        except (OSError, subprocess.TimeoutExpired):
            pass
    roots.append(os.path.expanduser("~/.pyenv"))
    pattern = re.compile(rf"^{re.escape(version)}\.\d+$")
    for root in roots:
        found = [p for p in glob.glob(os.path.join(root, "versions", version + ".*", "bin",
                                                   "python3"))
                 if pattern.match(os.path.basename(os.path.dirname(os.path.dirname(p))))]
        if found:
            return max(found, key=_version_key)
    return shutil.which("python" + version)


def _run_quiet(argv: Sequence[str], timeout: float, cwd: Optional[str] = None) -> Tuple[int, str]:
    """Run a setup command; return (exit status, its combined output)."""
    proc = spawn(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                 cwd=cwd)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        reap(proc)
        return 124, f"timed out after {timeout:.0f} s"
    _LIVE.pop(proc.pid, None)  # (on an interruption it stays listed, for reap_all)
    return proc.returncode, out.decode("utf-8", "replace")


def _tail(text: str, lines: int = 3) -> str:
    """The last lines of a tool's output, or rather the lines that name an error, if any."""
    kept = [line.strip() for line in text.strip().splitlines() if line.strip()]
    boilerplate = ("exited-with-error", "See above", "This is an issue", "hint:", "note:",
                   "\u2570", "ERROR: Failed")
    errors = [line for line in kept if re.search(r"error", line, re.I)
              and not any(b in line for b in boilerplate)]
    return " | ".join((errors or kept)[-lines:])


def build_c() -> None:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        raise SystemExit("no C compiler (cc) found: the load generator needs one")
    os.makedirs(BUILD_DIR, exist_ok=True)
    for source, target in ((os.path.join(BENCH_DIR, "loadgen.c"), LOADGEN),
                           (os.path.join(SERVER_DIR, "c_echo.c"), C_ECHO)):
        if os.path.exists(target) and os.path.getmtime(target) >= os.path.getmtime(source):
            continue
        log(f"building {os.path.relpath(target, ROOT)}")
        status, out = _run_quiet([cc, "-O2", "-Wall", "-Wextra", "-o", target, source], 120)
        if status != 0:
            raise SystemExit(f"building {source} failed:\n{out}")
        if out.strip():
            log(f"compiler output for {source}:\n{out}")
    # The TLS load generator needs OpenSSL's headers and libraries; without them the TLS
    # scenarios report that instead of a number.
    source = os.path.join(BENCH_DIR, "tls_loadgen.c")
    if os.path.exists(TLS_LOADGEN) and os.path.getmtime(TLS_LOADGEN) >= os.path.getmtime(source):
        return
    log(f"building {os.path.relpath(TLS_LOADGEN, ROOT)}")
    status, out = _run_quiet([cc, "-O2", "-Wall", "-Wextra", "-o", TLS_LOADGEN, source, "-lssl",
                              "-lcrypto"], 120)
    if status != 0:
        log(f"building {source} failed (OpenSSL headers missing?): {_tail(out)}")


def ensure_venvs(env: Environment, needed: Sequence[str]) -> None:
    for name in needed:
        version, packages = VENVS[name]
        base = env.base_python.get(version) or find_pyenv_python(version)
        if not base:
            env.broken[name] = f"no CPython {version} found (pyenv)"
            continue
        env.base_python[version] = base
        path = os.path.join(VENV_DIR, name)
        python = os.path.join(path, "bin", "python")
        marker = os.path.join(path, ".bench-packages")
        wanted = json.dumps({"base": base, "packages": packages})
        if os.path.exists(python) and os.path.exists(marker):
            with open(marker) as f:
                if f.read() == wanted:
                    env.venv_python[name] = python
                    continue
        log("preparing venv {} (CPython {}{})".format(
            name, version, ", " + " ".join(packages) if packages else ""))
        if not os.path.exists(python):
            status, out = _run_quiet([base, "-m", "venv", path], 300)
            if status != 0:
                env.broken[name] = "venv creation failed: " + _tail(out)
                continue
        if packages:
            status, out = _run_quiet([python, "-m", "pip", "install", "-q",
                                      "--disable-pip-version-check", *packages], 600)
            if status != 0:
                wanted_text = " ".join(packages)
                env.broken[name] = f"pip install {wanted_text} failed: {_tail(out)}"
                continue
        with open(marker, "w") as f:
            f.write(wanted)
        env.venv_python[name] = python


def install_ng(env: Environment, needed: Sequence[str]) -> None:
    """Build asyncore-ng's wheel from this checkout and (re)install it into the ng venvs.

    The build runs on a copy of the tree's top-level files and src/, so nothing is written
    into the checkout.  If the build or an install fails, the package is removed from the venvs
    (an old install must never be measured as the current tree) and the ng peers report why.
    """
    targets = [name for name in needed if name in NG_VENVS and name in env.venv_python]
    if not targets:
        return
    builder = env.venv_python.get("py313-ng") or env.venv_python[targets[0]]
    log(f"building asyncore-ng from {ROOT} and installing it into {', '.join(targets)}")
    with tempfile.TemporaryDirectory(prefix="asyncore-ng-bench-") as tmp:
        tree = os.path.join(tmp, "tree")
        os.makedirs(tree)
        for entry in os.listdir(ROOT):
            source = os.path.join(ROOT, entry)
            if os.path.isfile(source):
                shutil.copy2(source, tree)
        shutil.copytree(os.path.join(ROOT, "src"), os.path.join(tree, "src"),
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc"))
        wheels = os.path.join(tmp, "wheels")
        status, out = _run_quiet([builder, "-m", "pip", "wheel", "-q", "--no-deps",
                                  "--no-build-isolation", "--disable-pip-version-check",
                                  "-w", wheels, tree], 300)
        built = glob.glob(os.path.join(wheels, "*.whl"))
        error = None
        if status != 0 or not built:
            error = "asyncore-ng did not build: " + _tail(out)
        else:
            for name in targets:
                status, out = _run_quiet([env.venv_python[name], "-m", "pip", "install", "-q",
                                          "--disable-pip-version-check", "--force-reinstall",
                                          "--no-deps", built[0]], 300)
                if status != 0:
                    error = "asyncore-ng did not install: " + _tail(out)
                    break
        if error:
            env.ng_error = error
            log(error)
            for name in targets:
                _run_quiet([env.venv_python[name], "-m", "pip", "uninstall", "-y", "-q",
                            "asyncore-ng"], 120)


def record_versions(env: Environment) -> None:
    probe = ("import json, platform, sys\n"
             "out = {'python': platform.python_version()}\n"
             "try:\n"
             "    import importlib.metadata as md\n"
             "except ImportError:\n"
             "    md = None\n"
             "for name in sys.argv[1:]:\n"
             "    try:\n"
             "        out[name] = md.version(name)\n"
             "    except Exception:\n"
             "        pass\n"
             "print(json.dumps(out))\n")
    for name, python in sorted(env.venv_python.items()):
        status, out = _run_quiet([python, "-c", probe, "uvloop", "pyasyncore", "pyasynchat",
                                  "asyncore-ng"], 60)
        if status != 0:
            continue
        try:
            found = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            continue
        env.versions["python" + VENVS[name][0]] = found.pop("python")
        for package, version in found.items():
            env.versions.setdefault(package, version)


# ---------------------------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------------------------
@dataclass
class Sample:
    """One measurement of one peer in one scenario (one repetition)."""

    ok: bool
    value: float = 0.0  # round trips/s, or MB/s
    cpu_us: float = 0.0  # server CPU microseconds per round trip, or per MB
    client_busy: float = 0.0  # the load generator's CPU time / wall time in the window
    accept_s: float = -1.0
    idle_reached: int = 0
    idle_open: int = 0
    error: str = ""
    na: bool = False  # not applicable (FD_SETSIZE), rather than failed
    capped: bool = False
    # The larger share of the window that the server or the load generator spent runnable but
    # waiting for a CPU (schedstat): other processes' load, the noise of a shared machine.
    interference: float = 0.0


@dataclass
class CpuPlan:
    server: Optional[int]
    client: Optional[int]


def cpu_plan() -> CpuPlan:
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:
        cpus = list(range(os.cpu_count() or 1))
    if len(cpus) >= 2:
        return CpuPlan(cpus[0], cpus[1])
    return CpuPlan(None, None)


class Server:
    """A running benchmark server: started, pinned, its ready line read."""

    def __init__(self, argv: Sequence[str], cpu: Optional[int], errfile: IO[bytes],
                 env: Optional[Dict[str, str]] = None, ready_timeout: float = 30.0,
                 workers: int = 0, reservation: Optional[socket.socket] = None) -> None:
        self.proc = spawn(argv, stdout=subprocess.PIPE, stderr=errfile, stdin=subprocess.DEVNULL,
                          env=env)
        self.errfile = errfile
        self.info: Dict[str, Any] = {}
        self.workers = workers
        self.reservation = reservation  # holds a workers server's port until it stops
        # The processes whose CPU is the server's: the workers, when there are (the supervisor
        # only waits).
        self.pids: List[int] = [self.proc.pid]
        if cpu is not None:
            try:
                os.sched_setaffinity(self.proc.pid, {cpu})
            except OSError:
                pass
        self.error = self._read_ready(ready_timeout)

    def _read_ready(self, timeout: float) -> Optional[str]:
        if self.proc.stdout is None:
            raise RuntimeError("the server's stdout is not a pipe")
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        data = b""
        while data.count(b"\n") < max(1, self.workers):
            left = deadline - time.monotonic()
            if left <= 0:
                return f"no ready line within {timeout:.0f} s"
            ready, _, _ = select.select([fd], [], [], min(left, 0.5))
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    return f"exited before it was ready (status {self.proc.wait(5)})"
                data += chunk
        try:
            lines = [json.loads(line.decode()) for line in data.split(b"\n")[:max(1, self.workers)]]
            self.info = lines[0]
            int(self.info["port"])
            if self.workers:  # one ready line per worker, all on the same port
                self.pids = sorted(int(line["pid"]) for line in lines)
                if len(set(self.pids)) != self.workers or {line["port"] for line in lines} != {
                        self.info["port"]}:
                    return f"unexpected ready lines of the workers {data[:400]!r}"
        except (ValueError, KeyError, TypeError):
            return f"unexpected ready line {data[:200]!r}"
        return None

    @property
    def port(self) -> int:
        return int(self.info["port"])

    def stderr_text(self) -> str:
        self.errfile.flush()
        self.errfile.seek(0)
        return self.errfile.read().decode("utf-8", "replace")

    def stop(self, sig: int = signal.SIGKILL) -> None:
        if not self.workers:
            reap(self.proc, sig=sig, grace=10.0)
            return
        # The supervisor stops its workers (they run in sessions of their own) on SIGTERM.
        try:
            reap(self.proc, sig=signal.SIGTERM, grace=15.0)
        finally:
            for pid in self.pids:  # the workers
                try:
                    os.kill(pid, signal.SIGKILL)  # only if the supervisor failed to stop it
                except (ProcessLookupError, PermissionError):
                    pass
            if self.reservation is not None:
                self.reservation.close()


def reserve_port() -> socket.socket:
    """A free loopback port, bound with SO_REUSEPORT but not listening: nobody else gets it
    while it is held, and workers (which set SO_REUSEPORT too) can bind it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def explain_failure(stderr: str) -> str:
    """The line of a server's stderr that says what went wrong."""
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    for line in reversed(lines):
        if re.match(r"^[A-Za-z_.]*(Error|Exception|Exit)\b", line) or "error:" in line:
            return line[:300]
    return lines[-1][:300] if lines else ""


def run_loadgen(args: Sequence[str], timeout: float, binary: str = LOADGEN) -> Dict[str, Any]:
    if not os.path.exists(binary):
        return {"ok": False, "error": f"{os.path.basename(binary)} was not built"}
    proc = spawn([binary, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                 stdin=subprocess.DEVNULL)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        reap(proc)
        return {"ok": False, "error": f"load generator timed out after {timeout:.0f} s"}
    _LIVE.pop(proc.pid, None)  # (on an interruption it stays listed, for reap_all)
    for line in reversed(out.decode("utf-8", "replace").splitlines()):
        if line.startswith("{"):
            try:
                result: Dict[str, Any] = json.loads(line)
                return result
            except ValueError:
                break
    return {"ok": False, "error": "load generator said: " + _tail(err.decode("utf-8", "replace"))}


class Runner:
    def __init__(self, env: Environment, settings: Settings, tmpdir: str) -> None:
        self.env = env
        self.settings = settings
        self.tmpdir = tmpdir
        self.cpus = cpu_plan()
        # (peer, server kind) -> why that server cannot start: not tried again in this run
        self.dead: Dict[Tuple[str, str], str] = {}
        self.counter = 0
        self.retries_left = settings.retries
        self.setup_seconds = 0.0  # building and installing, before the first measurement

    def server_argv(self, peer: Peer, kind: str) -> Tuple[Optional[List[str]], Optional[str]]:
        command = peer.command(kind)
        if command is None:
            return None, f"no {kind} server"
        if kind == "tls":
            certfile, keyfile = self.tls_files()
            if not certfile:
                return None, keyfile  # (the reason)
            command = [*command, "--certfile", certfile, "--keyfile", keyfile]
        if peer.venv is None:
            return list(command), None
        python, why = self.env.python_for(peer)
        if python is None:
            return None, why
        return [python, *command], None

    def tls_files(self) -> Tuple[str, str]:
        """A self-signed EC certificate and key for the TLS servers, made once per run with the
        openssl command (``("", reason)`` if that fails)."""
        certfile = os.path.join(self.tmpdir, "tls-cert.pem")
        keyfile = os.path.join(self.tmpdir, "tls-key.pem")
        if not os.path.exists(keyfile):
            status, out = _run_quiet(
                ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                 "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                 "-keyout", keyfile, "-out", certfile], 60)
            if status != 0:
                return "", "cannot make a certificate with openssl: " + _tail(out)
        return certfile, keyfile

    def start(self, peer: Peer, kind: str, env: Optional[Dict[str, str]] = None,
              argv_prefix: Sequence[str] = (), cpu: Optional[int] = None,
              ready_timeout: float = 30.0) -> Tuple[Optional[Server], str]:
        argv, why = self.server_argv(peer, kind)
        if argv is None:
            return None, why or "unavailable"
        reservation = None
        if peer.workers:
            # A fixed port for the workers, held (bound, not listening, SO_REUSEPORT) meanwhile.
            reservation = reserve_port()
            argv += ["--port", str(reservation.getsockname()[1])]
            cpu = None  # the workers spread over the CPUs
        self.counter += 1
        errpath = os.path.join(self.tmpdir, f"server-{self.counter}.err")
        errfile = open(errpath, "w+b")  # noqa: SIM115 (closed when the server is done)
        if peer.env:
            env = dict(os.environ if env is None else env, **peer.env)
        server = Server([*argv_prefix, *argv], cpu, errfile, env=env,
                        ready_timeout=ready_timeout, workers=peer.workers,
                        reservation=reservation)
        if server.error:
            reason = explain_failure(server.stderr_text()) or server.error
            server.stop()
            errfile.close()
            return None, "did not start: " + reason
        module = str(server.info.get("module") or "")
        is_ng = server.info.get("asyncore_ng") is True
        wrong = bool(peer.module_check) and not re.search(peer.module_check, module)
        if peer.family in ("ng", "asyncore") and is_ng != (peer.family == "ng"):
            wrong = True
        if wrong:
            server.stop()
            errfile.close()
            return None, f"ran the wrong module: {module} (asyncore-ng's: {is_ng})"
        return server, ""

    def measure(self, peer: Peer, scenario: Scenario) -> Sample:
        key = (peer.name, scenario.kind)
        if key in self.dead:
            return Sample(False, error=self.dead[key])
        s = self.settings
        server, why = self.start(peer, scenario.kind, cpu=self.cpus.server)
        if server is None:
            self.dead[key] = why
            return Sample(False, error=why)
        args = ["--port", str(server.port), "--mode", scenario.mode,
                "--server-pid", ",".join(map(str, server.pids))]
        if self.cpus.client is not None:
            args += ["--cpu", str(self.cpus.client)]
        if scenario.mode == "stream":
            args += ["--bytes", str(s.stream_bytes)]
            deadline = 60.0
        else:
            args += ["--conns", str(scenario.conns), "--warmup", str(s.warmup),
                     "--duration", str(s.duration)]
            deadline = s.warmup + s.duration + 60.0
            if scenario.mode == "idle":
                args += ["--idle", str(s.idle), "--accept-cap", str(s.accept_cap)]
                deadline += s.accept_cap + 30.0
        args += ["--deadline", str(deadline)]
        try:
            result = run_loadgen(args, deadline + 15.0,
                                 TLS_LOADGEN if scenario.kind == "tls" else LOADGEN)
            alive = server.proc.poll() is None
        finally:
            server.stop()
        stderr = server.stderr_text()
        server.errfile.close()
        if not result.get("ok"):
            error = str(result.get("error", "failed"))
            if "filedescriptor out of range" in stderr:
                return Sample(False, error="n/a (FD_SETSIZE)", na=True)
            if not alive:
                error += "; server died: " + (explain_failure(stderr) or "no message")
            return Sample(False, error=error)
        cpu_ns = float(result.get("server_cpu_ns", -1))
        if cpu_ns < 0:  # no schedstat: clock ticks of /proc/PID/stat
            cpu_ns = float(result.get("server_cpu_ticks", 0)) * 1e9 / os.sysconf("SC_CLK_TCK")
        window_ns = float(result["seconds"]) * 1e9
        if window_ns <= 0:
            return Sample(False, error="empty measuring window")
        busy = float(result.get("client_cpu_ns", 0)) / window_ns
        waited = max(float(result.get("server_wait_ns", 0)), float(result.get("client_wait_ns", 0)))
        interference = max(0.0, waited / window_ns)
        if scenario.mode == "stream":
            megabytes = float(result["bytes"]) / 1e6
            return Sample(True, value=float(result["mbps"]), cpu_us=cpu_ns / 1e3 / megabytes,
                          client_busy=busy, interference=interference)
        trips = float(result["round_trips"])
        if trips <= 0:
            return Sample(False, error="no round trip completed in the window")
        sample = Sample(True, value=float(result["rate"]), cpu_us=cpu_ns / 1e3 / trips,
                        client_busy=busy, interference=interference)
        if scenario.mode == "idle":
            sample.accept_s = float(result["accept_seconds"])
            sample.idle_reached = int(result["idle_reached"])
            sample.idle_open = int(result["idle_open"])
            sample.capped = sample.idle_reached < int(result["idle_requested"])
        return sample


def rotated(items: Sequence[Peer], rep: int, reps: int) -> List[Peer]:
    """The peers in a different order each repetition: a different one starts each time."""
    if not items:
        return []
    shift = (rep * max(1, len(items) // max(1, reps))) % len(items)
    order = list(items[shift:]) + list(items[:shift])
    return order[::-1] if rep % 2 else order


def eligible(peer: Peer, scenario: Scenario) -> Optional[Sample]:
    """None if the peer runs in this scenario; else the Sample that stands for it."""
    if peer.command(scenario.kind) is None:
        return Sample(False, error="-", na=True)
    if peer.select_semantics and scenario.key == "S4":
        return Sample(False, error="n/a (FD_SETSIZE)", na=True)
    return None


Results = Dict[str, Dict[str, List[Sample]]]  # scenario -> peer -> samples


def run_timed(runner: Runner, scenarios: Sequence[Scenario], peers: Sequence[Peer]) -> Results:
    """Every scenario for every peer, `reps` times, interleaved; then, while the time budget
    allows, the most disturbed windows again (the least disturbed attempt is kept).

    Re-measuring at once rarely helps: another process's load tends to last longer than a
    window. So disturbed windows wait until all repetitions are done, and the worst go first.
    """
    s = runner.settings
    results: Results = {sc.key: {p.name: [] for p in peers} for sc in scenarios}
    total = sum(1 for sc in scenarios for p in peers if eligible(p, sc) is None) * s.reps
    done = 0
    started = time.monotonic()
    spent: List[float] = []  # seconds per measurement, for the time budget
    for rep in range(s.reps):
        for scenario in scenarios:
            for peer in rotated(peers, rep, s.reps):
                samples = results[scenario.key][peer.name]
                stand_in = eligible(peer, scenario)
                if stand_in is not None:
                    if not samples:
                        samples.append(stand_in)
                    continue
                done += 1
                if samples and (not samples[0].ok or samples[0].capped):
                    continue  # failed, n/a, or capped (S4): measured once is enough
                begun = time.monotonic()
                sample = runner.measure(peer, scenario)
                spent.append(time.monotonic() - begun)
                samples.append(sample)
                elapsed = time.monotonic() - started
                log(f"rep {rep + 1}/{s.reps} {scenario.key:<4} {peer.name:<21} "
                    f"{describe_sample(sample, scenario)}  [{done}/{total}, {elapsed:.0f} s]")
    by_key = {sc.key: sc for sc in scenarios}
    by_name = {p.name: p for p in peers}
    disturbed = sorted(
        ((x.interference, sc, name, i) for sc, per in results.items()
         for name, xs in per.items() for i, x in enumerate(xs)
         if x.ok and not x.capped and x.interference > DISTURBED
         and not by_name[name].workers),  # (workers peers share the CPUs by design)
        key=lambda item: -item[0])
    per = statistics.mean(spent) if spent else 0.0
    for interference, sc, name, i in disturbed:
        elapsed = runner.setup_seconds + time.monotonic() - started
        if runner.retries_left <= 0 or elapsed + per > s.budget:
            break
        runner.retries_left -= 1
        again = runner.measure(by_name[name], by_key[sc])
        kept = again.ok and again.interference < interference
        if kept:
            results[sc][name][i] = again
        log(f"again {sc:<4} {name:<21} {describe_sample(again, by_key[sc])}"
            f" ({'kept' if kept else 'not kept'}: waited {100 * interference:.0f}% before)")
    return results


def describe_sample(sample: Sample, scenario: Scenario) -> str:
    if not sample.ok:
        return sample.error
    if scenario.unit == "MB":
        return (f"{sample.value:.0f} MB/s, {sample.cpu_us:.0f} us/MB, "
                f"waited {100 * sample.interference:.0f}%")
    busy = 100 * sample.client_busy
    text = f"{sample.value:.0f} rt/s, {sample.cpu_us:.2f} us/rt, client {busy:.0f}%"
    text += f", waited {100 * sample.interference:.0f}%"
    if scenario.mode == "idle":
        text += f", accept {sample.accept_s:.2f} s ({sample.idle_reached} reached)"
    return text


# ---------------------------------------------------------------------------------------------
# Instruction counts (callgrind)
# ---------------------------------------------------------------------------------------------
def perf_counts_instructions() -> bool:
    """Whether `perf stat -e instructions` gives a number here (on many VMs it does not)."""
    if not shutil.which("perf"):
        return False
    status, out = _run_quiet(["perf", "stat", "-x,", "-e", "instructions:u", "true"], 30)
    return status == 0 and bool(re.search(r"^\d+,", out, re.M))


def callgrind_total(path: str) -> Optional[int]:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(("totals:", "summary:")):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def count_instructions(runner: Runner, peer: Peer, kind: str, trips: int) -> Tuple[Optional[int],
                                                                                   str]:
    """User-space instructions of one server process serving `trips` round trips, start to end."""
    # Kept in benchmarks/build/callgrind/ (gitignored) for callgrind_annotate: where they go.
    out_dir = os.path.join(BUILD_DIR, "callgrind")
    os.makedirs(out_dir, exist_ok=True)
    out = os.path.join(out_dir, f"{peer.name}.{kind}.{trips}.out")
    if os.path.exists(out):
        os.remove(out)
    env = dict(os.environ, PYTHONHASHSEED="0")
    prefix = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out]
    server_kind, conns = INSTR_SHAPES[kind]
    server, why = runner.start(peer, server_kind, env=env, argv_prefix=prefix,
                               cpu=runner.cpus.server, ready_timeout=120.0)
    if server is None:
        return None, why
    args = ["--port", str(server.port), "--mode", "line" if kind == "line" else "pingpong",
            "--conns", str(conns), "--count", str(trips), "--deadline", "300"]
    if runner.cpus.client is not None:
        args += ["--cpu", str(runner.cpus.client)]
    try:
        result = run_loadgen(args, 320.0)
    finally:
        server.stop(sig=signal.SIGTERM)  # valgrind writes its counts on the way out
    stderr = server.stderr_text()
    server.errfile.close()
    if not result.get("ok"):
        return None, str(result.get("error")) + "; " + explain_failure(stderr)
    total = callgrind_total(out)
    if total is None:
        return None, "no callgrind output"
    return total, ""


InstrResults = Dict[str, Dict[str, Tuple[Optional[float], str]]]  # kind -> peer -> (per rt, err)


def run_instructions(runner: Runner, peers: Sequence[Peer]) -> InstrResults:
    low, high = runner.settings.instr_counts
    names = {p.name for p in peers}
    by_name = {p.name: p for p in PEERS}
    results: InstrResults = {}
    for kind, wanted in INSTR_PEERS.items():
        results[kind] = {}
        for name in wanted:
            if name not in names:
                continue
            peer = by_name[name]
            first, why = count_instructions(runner, peer, kind, low)
            second: Optional[int] = None
            if first is not None:
                second, why = count_instructions(runner, peer, kind, high)
            if first is None or second is None:
                results[kind][name] = (None, why)
                log(f"instructions {kind:<5} {name:<16} failed: {why}")
                continue
            per_trip = (second - first) / float(high - low)
            results[kind][name] = (per_trip, "")
            log(f"instructions {kind:<5} {name:<16} {per_trip:.0f} per round trip")
    return results


# ---------------------------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------------------------
def median_sample(samples: Sequence[Sample]) -> Optional[Sample]:
    good = [x for x in samples if x.ok]
    if not good:
        return None
    return Sample(True, value=statistics.median(x.value for x in good),
                  cpu_us=statistics.median(x.cpu_us for x in good),
                  client_busy=statistics.median(x.client_busy for x in good),
                  accept_s=statistics.median(x.accept_s for x in good),
                  idle_reached=min(x.idle_reached for x in good),
                  idle_open=min(x.idle_open for x in good),
                  capped=any(x.capped for x in good),
                  interference=statistics.median(x.interference for x in good))


def spread(samples: Sequence[Sample]) -> str:
    values = [x.value for x in samples if x.ok]
    if len(values) < 2:
        return ""
    mid = statistics.median(values)
    return "±%.0f%%" % (50.0 * (max(values) - min(values)) / mid) if mid else ""


def fmt_rate(value: float) -> str:
    if value >= 1e6:
        return "%.2fM" % (value / 1e6)
    if value >= 1e4:
        return "%.1fk" % (value / 1e3)
    if value >= 1e3:
        return "%.2fk" % (value / 1e3)
    return f"{value:.0f}"


def fmt_ratio(ours: Optional[float], theirs: Optional[float]) -> str:
    if ours is None or not theirs:
        return "-"
    ratio = ours / theirs
    return f"{ratio:.2f}x" if ratio < 10 else f"{ratio:.0f}x"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]],
                   numeric: bool = True) -> str:
    """A Markdown table; with `numeric`, every column but the first is right-aligned."""
    rule = ["---" if i == 0 or not numeric else "---:" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(rule) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def scenario_title(scenario: Scenario, settings: Settings) -> str:
    return scenario.title.format(idle=f"{settings.idle:,}",
                                 mib=settings.stream_bytes // MIB)


def scenario_table(scenario: Scenario, per_peer: Dict[str, List[Sample]], peers: Sequence[Peer],
                   settings: Settings) -> str:
    medians = {name: median_sample(samples) for name, samples in per_peer.items()}

    def ref(table: Dict[str, str], peer: Peer) -> Optional[Sample]:
        name = table.get(peer.interp)
        return medians.get(name) if name else None

    stream = scenario.unit == "MB"
    header = ["peer", "MB/s" if stream else "round trips/s", "spread",
              "server µs/MB" if stream else "server µs/rt", "client busy", "waited",
              "rate vs asyncio", "CPU vs asyncio", "rate vs asyncore", "CPU vs asyncore"]
    if scenario.mode == "idle":
        header += [f"accept {settings.idle:,} (s)", "idle open"]
    rows = []
    for peer in peers:
        samples = per_peer.get(peer.name) or []
        if not samples or (samples[0].na and samples[0].error == "-"):
            continue
        m = medians.get(peer.name)
        if m is None:
            error = samples[0].error
            cell = error if samples[0].na else "failed: " + error
            rows.append([peer.name, cell.replace("|", "/")[:160]] + [""] * (len(header) - 2))
            continue
        aio, core = ref(ASYNCIO_REF, peer), ref(ASYNCORE_REF, peer)
        row = [peer.name, f"{m.value:.0f}" if stream else fmt_rate(m.value), spread(samples),
               f"{m.cpu_us:.0f}" if stream else f"{m.cpu_us:.2f}",
               f"{100 * m.client_busy:.0f}%", f"{100 * m.interference:.0f}%",
               fmt_ratio(m.value, aio.value if aio else None),
               fmt_ratio(m.cpu_us, aio.cpu_us if aio else None),
               fmt_ratio(m.value, core.value if core else None),
               fmt_ratio(m.cpu_us, core.cpu_us if core else None)]
        if scenario.mode == "idle":
            reached = f"{m.idle_reached:,}"
            row += [f"{m.accept_s:.2f}" if not m.capped else
                    f"> {settings.accept_cap:.0f} ({reached} reached)",
                    f"{m.idle_open:,}"]
        rows.append(row)
    return markdown_table(header, rows)


@dataclass
class Check:
    peer: str
    target: str
    measured: str
    ok: Optional[bool]


def target_checks(results: Results, peers: Sequence[Peer]) -> List[Check]:
    """The targets, evaluated for the asyncore-ng peers on the same run's figures."""
    def med(scenario: str, name: Optional[str]) -> Optional[Sample]:
        if name is None or scenario not in results or name not in results[scenario]:
            return None
        return median_sample(results[scenario][name])

    checks: List[Check] = []

    def add(peer: str, target: str, ours: Optional[float], theirs: Optional[float],
            limit: float, higher_is_better: bool) -> None:
        if not all(sc in results for sc in re.findall(r"\bS\d+b?\b", target)):
            return  # a scenario this run did not include
        if ours is None or theirs is None or theirs == 0:
            checks.append(Check(peer, target, "not measured", None))
            return
        ratio = ours / theirs
        ok = ratio >= limit if higher_is_better else ratio <= limit
        checks.append(Check(peer, target, f"{ratio:.2f}x", ok))

    for peer in peers:
        if peer.family != "ng" or not peer.default or "ASYNCORE_NG_BACKEND" in (peer.env or {}):
            # (the targets are our own reactor's, not the asyncio bridge's)
            continue
        aio, core, sel = (ASYNCIO_REF.get(peer.interp), ASYNCORE_REF.get(peer.interp),
                          SELECTORS_REF.get(peer.interp))
        me = peer.name

        def cpu(scenario: str, name: Optional[str]) -> Optional[float]:
            m = med(scenario, name)
            return m.cpu_us if m else None

        def rate(scenario: str, name: Optional[str]) -> Optional[float]:
            m = med(scenario, name)
            return m.value if m else None

        for sc in ("S2", "S3"):
            add(me, f"{sc} CPU/rt <= 0.8x {aio}", cpu(sc, me), cpu(sc, aio), 0.8, False)
            add(me, f"{sc} CPU/rt <= {sel}", cpu(sc, me), cpu(sc, sel), 1.0, False)
            add(me, f"{sc} CPU/rt < {core}", cpu(sc, me), cpu(sc, core), 0.9999, False)
        add(me, "S4 rate >= 0.9x own S2b", rate("S4", me), rate("S2b", me), 0.9, True)
        add(me, "S4 CPU/rt <= 1.1x own S2b (the same, as CPU)", cpu("S4", me), cpu("S2b", me),
            1.1, False)
        add(me, f"S4 rate >= 100x {core}", rate("S4", me), rate("S4", core), 100.0, True)
        s4 = med("S4", me)
        if "S4" not in results:
            pass
        elif s4 is None:
            checks.append(Check(me, "S4 accept all idle in < 2 s", "not measured", None))
        else:
            checks.append(Check(me, "S4 accept all idle in < 2 s",
                                "{:.2f} s{}".format(s4.accept_s, " (capped)" if s4.capped else ""),
                                s4.accept_s < 2.0 and not s4.capped))
        add(me, f"S5 CPU/MB <= {aio}", cpu("S5", me), cpu("S5", aio), 1.0, False)
        add(me, f"S5 MB/s >= 1.0x {aio}", rate("S5", me), rate("S5", aio), 1.0, True)
        add(me, f"S5 MB/s >= 4x {core}", rate("S5", me), rate("S5", core), 4.0, True)
        add(me, f"S6 rate >= 1.2x {core} (asynchat)", rate("S6", me), rate("S6", core), 1.2,
            True)
        add(me, f"S6 rate >= 1.0x {aio} (line Protocol)", rate("S6", me), rate("S6", aio), 1.0,
            True)
        slower = []
        measured_any = False
        for sc in results:
            ours, theirs = rate(sc, me), rate(sc, core)
            if ours is not None and theirs is not None:
                measured_any = True
                if ours < theirs:
                    slower.append(f"{sc} {ours / theirs:.3f}x")
        checks.append(Check(me, f"no scenario slower than {core}",
                            ", ".join(slower) if slower else ("none slower" if measured_any
                                                              else "not measured"),
                            (not slower) if measured_any else None))
    return checks


def render_timed(results: Results, scenarios: Sequence[Scenario], peers: Sequence[Peer],
                 settings: Settings, meta: Dict[str, str]) -> str:
    parts = [meta_block(meta)]
    for scenario in scenarios:
        parts.append("#### " + scenario_title(scenario, settings))
        parts.append(scenario_table(scenario, results[scenario.key], peers, settings))
    parts.append("#### Load generator ceiling")
    ceiling = []
    for scenario in scenarios:
        m = median_sample(results[scenario.key].get("c-echo", []))
        if m is not None:
            unit = "MB/s" if scenario.unit == "MB" else "round trips/s"
            value = fmt_rate(m.value) if scenario.unit == "rt" else f"{m.value:.0f}"
            ceiling.append(f"{scenario.key} {value} {unit} (client busy "
                           f"{100 * m.client_busy:.0f}%, waited {100 * m.interference:.0f}%)")
    parts.append(("Against the minimal C echo server: " + "; ".join(ceiling) + ".")
                 if ceiling else "The C echo server was not measured in this run.")
    checks = target_checks(results, peers)
    if checks:
        parts.append("#### Targets (asyncore-ng)")
        parts.append(
            "Rate targets compare windows that other processes may have disturbed differently "
            "(see the waited column); the CPU targets are the steadier ones, and instruction "
            "counts (`--instructions`) steadier still.")
        parts.append(markdown_table(
            ["peer", "target", "measured", "met"],
            [[c.peer, c.target, c.measured, "-" if c.ok is None else ("yes" if c.ok else "NO")]
             for c in checks], numeric=False))
    parts.append("#### Peers")
    parts.append("\n".join(f"- `{p.name}`: {p.describe}" for p in peers))
    return "\n\n".join(parts) + "\n"


def render_instructions(results: InstrResults, settings: Settings, meta: Dict[str, str]) -> str:
    low, high = settings.instr_counts
    lines = [meta_block(meta),
             "User-space instructions of the server process per round trip (interpreter and "
             "extension code, not the kernel), from callgrind: the difference between a run of "
             f"{low:,} and one of {high:,} round trips over 100 connections (one for the S1 "
             f"shape), divided by {high - low:,}; "
             "startup and shutdown cancel out. PYTHONHASHSEED=0. Repeated runs agree within "
             "about 0.5%; figures are comparable only between runs of the same counts (the "
             "stdlib-style loops' per-pass cost depends on how many events a pass handles)."]
    titles = {"echo": "Echo (S2 shape: dispatcher_with_send echo, asyncio Protocol, selectors)",
              "line": "Line echo (S6 shape: async_chat, asyncio line Protocol)",
              "echo1": "Echo over one connection (S1 shape: one event per pass)"}
    for kind, per_peer in results.items():
        if not per_peer:
            continue
        ref = per_peer.get("asyncio-3.13", (None, ""))[0]
        rows = []
        for name, (per_trip, why) in per_peer.items():
            if per_trip is None:
                rows.append([name, "failed: " + why.replace("|", "/")[:160], ""])
            else:
                rows.append([name, f"{per_trip:,.0f}", fmt_ratio(per_trip, ref)])
        lines.append("#### " + titles[kind])
        lines.append(markdown_table(["peer", "instructions/rt", "vs asyncio-3.13"], rows))
    return "\n\n".join(lines) + "\n"


def meta_block(meta: Dict[str, str]) -> str:
    return "\n".join(f"- {key}: {value}" for key, value in meta.items())


def machine_meta(env: Environment, settings: Settings, cpus: CpuPlan, argv: Sequence[str],
                 timed: bool) -> Dict[str, str]:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = ", ".join(f"{k} {v}" for k, v in sorted(env.versions.items()))
    meta = {
        "Command": "`" + " ".join(["python3", "benchmarks/run.py", *map(shlex.quote, argv)]) + "`",
        "Date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "Machine": f"{os.cpu_count() or 0} CPUs ({model or platform.processor() or '?'}), "
                   f"Linux {platform.release()}, load average {os.getloadavg()[0]:.2f} at start",
        "Pinning": (f"server on CPU {cpus.server}, load generator on CPU {cpus.client}"
                    if cpus.server is not None else "none (one CPU)"),
        "Versions": versions or "?",
        "Tree": git_state(),
    }
    if timed:
        meta["Method"] = (
            f"{settings.reps} repetition(s), interleaved (peer order rotated each repetition), "
            f"medians; a fresh server per measurement, primed by one connection that echoes a "
            f"line and closes, then {settings.warmup:g} s warm-up and a "
            f"{settings.duration:g} s window; 64-byte messages; server CPU = its threads' "
            "on-CPU time over the window (/proc/PID/task/*/schedstat); ratios against the same "
            "interpreter's asyncio and asyncore (3.11: stdlib with poll; 3.13: pyasyncore); "
            "spread = half the min-max range over the median; waited = share of the window the "
            "server or the load generator spent runnable but waiting for a CPU (other "
            f"processes' load): after the repetitions, windows above {100 * DISTURBED:.0f}% "
            f"were measured again, worst first, at most {settings.retries} within a "
            f"{settings.budget:.0f} s budget for the run, keeping the less disturbed attempt")
    return meta


def git_state() -> str:
    try:
        head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=20,
                              text=True, check=False).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--", "src"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=20,
                               text=True, check=False).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    text = f"commit {head}" if head else "no commit yet"
    return text + (" with uncommitted changes under src/" if dirty else "")


BLOCKS = ("timed", "instructions")


def write_results(blocks: Dict[str, str]) -> None:
    """Rewrite our section of RESULTS.md: only the blocks measured now; the rest stays."""
    text = ""
    if os.path.exists(RESULTS_MD):
        with open(RESULTS_MD, encoding="utf-8") as f:
            text = f.read()
    if not text.strip():
        text = "# Benchmark results\n"
    start = text.find(SECTION_TITLE + "\n")
    if start < 0:
        before, section, after = text.rstrip("\n") + "\n\n", "", ""
    else:
        following = re.search(r"^## ", text[start + len(SECTION_TITLE):], re.M)
        end = start + len(SECTION_TITLE) + following.start() if following else len(text)
        before, section, after = text[:start], text[start:end], text[end:]
    old: Dict[str, str] = {}
    for name in BLOCKS:
        match = re.search(rf"<!-- begin {name} -->\n(.*?)<!-- end {name} -->", section,
                          re.S)
        if match:
            old[name] = match.group(1)
    new = {**old, **blocks}
    body = [SECTION_TITLE, "",
            "Generated by `benchmarks/run.py --write` (see benchmarks/README.md); "
            "edit the script, not this section.", ""]
    headings = {"timed": "### Round trips, throughput and server CPU",
                "instructions": "### Instruction counts (callgrind)"}
    for name in BLOCKS:
        if name in new:
            body += [headings[name], "", f"<!-- begin {name} -->", new[name].rstrip("\n"),
                     f"<!-- end {name} -->", ""]
    new_text = before + "\n".join(body) + "\n" + after.lstrip("\n")
    with open(RESULTS_MD, "w", encoding="utf-8") as f:
        f.write(new_text.rstrip("\n") + "\n")
    log(f"wrote {os.path.relpath(RESULTS_MD, os.getcwd())}")


# ---------------------------------------------------------------------------------------------
# Plots (benchmarks/plot.py, matplotlib): not needed by the measurements, so the interpreter
# that draws them may be another one than this (the docs venv of scripts/docs.sh has it).
# ---------------------------------------------------------------------------------------------
def plot_python() -> Optional[str]:
    """An interpreter that can import matplotlib: this one, else the docs venv; else None."""
    candidates = [sys.executable]
    if os.path.exists(DOCS_VENV_PYTHON):
        candidates.append(DOCS_VENV_PYTHON)
    for python in candidates:
        status, _out = _run_quiet([python, "-c", "import matplotlib"], timeout=60)
        if status == 0:
            return python
    return None


def raw_context(scenarios: Sequence[Scenario], peers: Sequence[Peer], settings: Settings,
                meta: Dict[str, str]) -> Dict[str, Any]:
    """What the saved JSON carries beside the samples, so that it can be read on its own."""
    return {
        "meta": meta,
        "settings": vars(settings),
        "scenarios": {sc.key: {"title": scenario_title(sc, settings), "unit": sc.unit,
                               "kind": sc.kind, "mode": sc.mode} for sc in scenarios},
        "peers": {p.name: {"family": p.family, "interp": p.interp, "describe": p.describe,
                           "workers": p.workers} for p in peers},
    }


def draw_plots(python: str, raw: Dict[str, Any], out_dir: str) -> bool:
    """Save ``raw`` as ``out_dir/results.json`` and draw the plots from it; True if done."""
    os.makedirs(out_dir, exist_ok=True)
    data = os.path.join(out_dir, "results.json")
    with open(data, "w") as f:
        json.dump(raw, f, indent=1, default=str)
        f.write("\n")
    status, out = _run_quiet([python, PLOT_SCRIPT, data, "--out", out_dir], timeout=300)
    if status != 0:
        log(f"plots failed: {_tail(out, 10)}")
        return False
    log(f"plots drawn into {os.path.relpath(out_dir, os.getcwd())} (from results.json there)")
    return True


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------
def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="asyncore-ng echo benchmarks",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="scenarios: " + ", ".join(s.key for s in SCENARIOS) +
               "\npeers: " + ", ".join(p.name + ("" if p.default else " (extra)") for p in PEERS))
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run of about a minute (1 repetition, short windows)")
    parser.add_argument("--only", default="", help="scenarios to run, e.g. S2,S4")
    parser.add_argument("--peers", default="",
                        help="peers to run, comma-separated glob patterns (e.g. 'ng-*,asyncio-3.13'"
                             "); 'all' adds the extra peers to the default set")
    parser.add_argument("--reps", type=int, help="repetitions (default 3, quick 1)")
    parser.add_argument("--duration", type=float, help="measured window in seconds")
    parser.add_argument("--warmup", type=float, help="warm-up before each window in seconds")
    parser.add_argument("--instructions", action="store_true",
                        help="count instructions per round trip with callgrind instead of timing")
    parser.add_argument("--write", action="store_true",
                        help="rewrite the 'Echo benchmarks' section of RESULTS.md")
    parser.add_argument("--json", metavar="PATH", help="also save the raw samples as JSON")
    parser.add_argument("--plot", metavar="DIR",
                        help="also draw PNG plots of the timed results into DIR, with the JSON "
                             "they are drawn from (benchmarks/plot.py, needs matplotlib); "
                             "--write does it into docs/img/benchmarks")
    return parser.parse_args(argv)


def choose(args: argparse.Namespace) -> Tuple[List[Scenario], List[Peer]]:
    scenarios = SCENARIOS
    if args.only:
        wanted = [w.strip().lower() for w in args.only.split(",") if w.strip()]
        unknown = [w for w in wanted if w not in {s.key.lower() for s in SCENARIOS}]
        if unknown:
            raise SystemExit("unknown scenario(s): {}".format(", ".join(unknown)))
        scenarios = [s for s in SCENARIOS if s.key.lower() in wanted]
    peers = [p for p in PEERS if p.default]
    if args.peers:
        patterns = [w.strip() for w in args.peers.split(",") if w.strip()]
        if patterns == ["all"]:
            peers = list(PEERS)
        else:
            peers = [p for p in PEERS if any(fnmatch.fnmatchcase(p.name, pat)
                                             for pat in patterns)]
        if not peers:
            raise SystemExit(f"no peer matches {args.peers!r}")
    return scenarios, peers


def settings_for(args: argparse.Namespace) -> Settings:
    s = Settings()
    if args.quick:
        s = Settings(reps=1, warmup=0.2, duration=0.5, idle=2000, accept_cap=5.0,
                     stream_bytes=64 * MIB, instr_counts=(1000, 6000), retries=5, budget=75.0,
                     quick=True)
    if args.reps is not None:
        s.reps = max(1, args.reps)
    if args.duration is not None:
        s.duration = max(0.1, args.duration)
    if args.warmup is not None:
        s.warmup = max(0.0, args.warmup)
    return s


def check_limits(settings: Settings) -> None:
    import resource

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if limit < settings.idle + 200:
        reduced = max(100, limit - 200)
        log(f"RLIMIT_NOFILE hard limit is {limit}: S4 uses {reduced} idle connections "
            f"instead of {settings.idle}")
        settings.idle = reduced


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    scenarios, peers = choose(args)
    settings = settings_for(args)
    check_limits(settings)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started ignoring it
    atexit.register(reap_all)
    started = time.monotonic()

    # Plots: asked for (--plot DIR), or part of --write (docs/img/benchmarks), for timed runs.
    plot_dir = args.plot or (DOCS_PLOTS if args.write else None)
    plotter = None
    if plot_dir and not args.instructions:
        plotter = plot_python()
        if plotter is None:
            why = ("no interpreter here imports matplotlib (scripts/docs.sh makes "
                   ".ci/venvs/docs with it, or pip install matplotlib)")
            if args.plot:
                raise SystemExit(f"--plot: {why}")
            log(f"note: the plots in docs/img/benchmarks will not be redrawn: {why}")
    elif args.plot:
        log("note: --plot draws timed results only; --instructions has none")

    if args.instructions:
        if not shutil.which("valgrind"):
            raise SystemExit("--instructions needs valgrind (callgrind)")
        wanted = {n for names in INSTR_PEERS.values() for n in names}
        peers = [p for p in peers if p.name in wanted]
        if not peers:
            raise SystemExit("--instructions measures {}; none selected".format(", ".join(
                sorted(wanted))))
        if perf_counts_instructions():
            log("note: perf counts instructions here too; callgrind is used for exact repeats")
        else:
            log("perf stat -e instructions is not supported on this machine: using callgrind")
    build_c()
    env = Environment()
    needed = sorted({p.venv for p in peers if p.venv})
    ensure_venvs(env, needed)
    install_ng(env, needed)
    record_versions(env)
    for name, why in env.broken.items():
        log(f"venv {name} unusable: {why}")

    blocks: Dict[str, str] = {}
    raw: Dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="asyncore-ng-bench-") as tmpdir:
        runner = Runner(env, settings, tmpdir)
        runner.setup_seconds = time.monotonic() - started
        meta = machine_meta(env, settings, runner.cpus, argv, timed=not args.instructions)
        if args.instructions:
            counts = run_instructions(runner, peers)
            blocks["instructions"] = render_instructions(counts, settings, meta)
            raw["instructions"] = counts
        else:
            results = run_timed(runner, scenarios, peers)
            blocks["timed"] = render_timed(results, scenarios, peers, settings, meta)
            raw["timed"] = {sc: {p: [vars(x) for x in xs] for p, xs in per.items()}
                            for sc, per in results.items()}
        raw.update(raw_context(scenarios, peers, settings, meta))
    reap_all()
    for text in blocks.values():
        sys.stdout.write("\n" + text)
    sys.stdout.flush()
    log("finished in %.0f s" % (time.monotonic() - started))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(raw, f, indent=1, default=str)
    if args.write:
        write_results(blocks)
    drawn = plotter is None or not plot_dir or "timed" not in raw or draw_plots(plotter, raw, plot_dir)
    return 0 if drawn else 1


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        reap_all()
        log("interrupted: every process this run started has been stopped")
        sys.exit(130)
