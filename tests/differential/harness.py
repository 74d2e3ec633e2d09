"""The differential harness: run a scenario under the stdlib (CPython 3.11, the oracle) and
under asyncore-ng, normalize both outputs, compare.

Running. Each run is a child interpreter started on ``run_scenario.py IMPL SCENARIO`` with a
timeout (``RUN_TIMEOUT``), standard error merged into standard output (``-u``: unbuffered, so
the two interleave in the order written) and the exit status appended as a last line
``[exit N]``. The oracle child gets a clean environment (no ``PYTHONPATH``) and ``-s``; ours
gets ``PYTHONPATH`` pointing at the asyncore_ng that this test process imported (installed or
the checkout's ``src``). Both get ``PYTHONHASHSEED=0``.

Oracle. ``ASYNCORE_NG_ORACLE_PYTHON`` if set, else the newest pyenv ``3.11.*``, else this
interpreter if it is a 3.11, else ``python3.11`` on ``PATH``; it must import the stdlib's
asyncore and asynchat. Its traces are cached in memory and on disk under
``.ci/oracle-cache/`` (git-ignored), keyed by the sha256 of the scenario, ``_trace.py``,
``run_scenario.py``, ``CACHE_FORMAT`` and the oracle's ``sys.version``: the per-version pytest
sessions of one CI run compute each oracle trace once.

Normalization (applied to both traces, in this order; nothing else is rewritten):

0. Messages the interpreter itself words differently across Python versions (``time.sleep``,
   ``select``, ``int()`` errors: see ``_VERSION_MESSAGES``) get one wording, since ours may run
   on 3.8-3.13 against the 3.11 oracle.
1. The scenario's path becomes ``<scenario>``, this folder's ``<harness>``; paths of the
   implementations' own files (``asyncore.py``, ``asynchat.py``, ``asyncore/__init__.py``,
   ``asynchat/__init__.py``, ``asyncore_ng/...``) become ``<lib>``.
2. ``compact_traceback()`` info strings (``[file|function|line] [file|function|line] ...``,
   as ``handle_error`` prints them): only the frames of the scenario file itself are kept.
   The library's internal frames necessarily differ (other files, functions, lines); the
   scenario's frames (which handler raised, at which line) must not. A run of frames with
   none from the scenario becomes ``[<library frames>]``.
3. Python tracebacks (``Traceback (most recent call last):`` blocks): the same rule, keep the
   ``File`` lines of the scenario file with their source line; other frames, and the
   ``^^^^``/``~~~~`` marker lines that differ between Python versions, are dropped. The
   exception line itself is kept.
4. Ids and addresses ``0x1234abcd`` become ``0xADDR`` (and the stdlib's repr-failure text
   ``object at 7f12...>`` becomes ``object at ADDR>``); loopback ports become ``PORT``
   (``127.0.0.1:PORT``, ``('127.0.0.1', PORT)``); ``fd=N`` becomes ``fd=FD`` and
   ``descriptor N`` becomes ``descriptor FD``.

Then the table of DOCUMENTED differences (documented.py) may rewrite lines of a given
scenario; any other difference fails the test.
"""

from __future__ import annotations

import difflib
import glob
import hashlib
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
SCENARIOS = os.path.join(HERE, "scenarios")
RUNNER = os.path.join(HERE, "run_scenario.py")
TRACE_HELPERS = os.path.join(HERE, "_trace.py")
ROOT = os.path.dirname(os.path.dirname(HERE))
CACHE_DIR = os.path.join(ROOT, ".ci", "oracle-cache")

#: Seconds a scenario run may take (a scenario's own deadline, in _trace.py, is 10 s).
RUN_TIMEOUT = 30.0
#: Bump when the cached record's meaning changes.
CACHE_FORMAT = "1"


def scenario_names() -> List[str]:
    return sorted(
        os.path.splitext(os.path.basename(p))[0] for p in glob.glob(os.path.join(SCENARIOS, "*.py"))
    )


def scenario_path(name: str) -> str:
    return os.path.join(SCENARIOS, name + ".py")


# -- the oracle --------------------------------------------------------------------------------

_PROBE = (
    "import warnings; warnings.simplefilter('ignore'); "
    "import asyncore, asynchat, os, sys; "
    "assert os.path.dirname(asyncore.__file__) == os.path.dirname(os.__file__); "
    "print(sys.version)"
)


def _pyenv_root() -> Optional[str]:
    root = os.environ.get("PYENV_ROOT")
    if root:
        return root
    try:
        out = subprocess.run(["pyenv", "root"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        default = os.path.expanduser("~/.pyenv")
        return default if os.path.isdir(default) else None
    return out.stdout.strip() or None


def _version_key(path: str) -> Tuple[int, ...]:
    m = re.search(r"3\.11\.(\d+)", path)
    return (int(m.group(1)),) if m else (-1,)


def _candidates() -> List[str]:
    override = os.environ.get("ASYNCORE_NG_ORACLE_PYTHON")
    if override:
        return [override]
    found = []
    root = _pyenv_root()
    if root:
        found += sorted(
            glob.glob(os.path.join(root, "versions", "3.11.*", "bin", "python3")),
            key=_version_key,
            reverse=True,
        )
    if sys.version_info[:2] == (3, 11):
        found.append(sys.executable)
    for d in os.environ.get("PATH", "").split(os.pathsep):
        p = os.path.join(d, "python3.11")
        if os.access(p, os.X_OK):
            found.append(p)
    return found


def clean_env() -> Dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONIOENCODING": "utf-8",
    }
    if "HOME" in os.environ:
        env["HOME"] = os.environ["HOME"]
    return env


_oracle: Optional[Tuple[Optional[str], str]] = None


def find_oracle() -> Tuple[Optional[str], str]:
    """``(interpreter, sys.version)`` of the oracle, or ``(None, why not)``."""
    global _oracle
    if _oracle is not None:
        return _oracle
    why = []
    for cand in _candidates():
        try:
            out = subprocess.run(
                [cand, "-s", "-c", _PROBE], capture_output=True, text=True, timeout=30, env=clean_env()
            )
        except (OSError, subprocess.SubprocessError) as e:
            why.append(f"{cand}: {e}")
            continue
        if out.returncode == 0 and out.stdout.startswith("3.11."):
            _oracle = (cand, out.stdout.strip())
            return _oracle
        why.append(f"{cand}: no stdlib asyncore/asynchat ({out.stderr.strip().splitlines()[-1:]})")
    _oracle = (
        None,
        "no CPython 3.11 with the stdlib asyncore/asynchat found "
        "(set ASYNCORE_NG_ORACLE_PYTHON, or install 3.11 with pyenv)"
        + (": " + "; ".join(why) if why else ""),
    )
    return _oracle


# -- running -----------------------------------------------------------------------------------


@dataclass
class Run:
    output: str  # stdout and stderr, merged in order
    returncode: Optional[int]  # None: timed out
    path: str  # the scenario path the child was given


def _ng_env(backend: Optional[str] = None) -> Dict[str, str]:
    env = clean_env()
    try:
        import asyncore_ng
    except ImportError:  # run from a checkout without PYTHONPATH: the checkout's src
        env["PYTHONPATH"] = os.path.join(ROOT, "src")
    else:
        env["PYTHONPATH"] = os.path.dirname(os.path.dirname(os.path.abspath(asyncore_ng.__file__)))
    if backend is not None:
        env["ASYNCORE_NG_BACKEND"] = backend
    elif "ASYNCORE_NG_BACKEND" in os.environ:
        env["ASYNCORE_NG_BACKEND"] = os.environ["ASYNCORE_NG_BACKEND"]
    return env


def run(
    impl: str, name_or_path: str, python: str, timeout: float = RUN_TIMEOUT, backend: Optional[str] = None
) -> Run:
    """Run one scenario (a name under scenarios/, or a path) under ``impl`` with ``python``;
    ``backend``: ``ASYNCORE_NG_BACKEND`` for an ``ng`` run (default: this process's)."""
    path = name_or_path if os.path.isabs(name_or_path) else scenario_path(name_or_path)
    env = _ng_env(backend) if impl == "ng" else clean_env()
    try:
        proc = subprocess.run(
            [python, "-s", "-u", RUNNER, impl, path],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=HERE,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as e:
        partial = e.output.decode("utf-8", "replace") if isinstance(e.output, bytes) else ""
        return Run(partial + f"\n[timed out after {timeout}s]\n", None, path)
    return Run(proc.stdout.decode("utf-8", "replace"), proc.returncode, path)


# -- normalization -------------------------------------------------------------------------------

_LIB_PATH = re.compile(
    r"""(?:[^\s"'|\[\]()]*/)?(?:asyncore\.py|asynchat\.py|asyncore/__init__\.py|asynchat/__init__\.py"""
    r"""|asyncore_ng/[\w/]+\.py)"""
)
_FRAME = r"\[[^\[\]|]*\|[^\[\]|]*\|\d+\]"
_FRAME_RUN = re.compile(rf"{_FRAME}(?: {_FRAME})*")
_FRAME_PARTS = re.compile(r"\[([^\[\]|]*)\|([^\[\]|]*)\|(\d+)\]")
_TB_FILE = re.compile(r'^\s*File "([^"]*)", line \d+')
_MARKERS = re.compile(r"^\s*[\^~]+[\^~\s]*$")
_ADDR = re.compile(r"0x[0-9a-fA-F]+")
_REPR_FAILED = re.compile(r"object at [0-9a-fA-F]+>")
_PORT_COLON = re.compile(r"127\.0\.0\.1:\d+")
_PORT_TUPLE = re.compile(r"\('127\.0\.0\.1', \d+\)")
_FD = re.compile(r"\bfd=\d+")
_DESCRIPTOR = re.compile(r"\bdescriptor \d+")
SCENARIO = "<scenario>"


def _keep_scenario_frames(m: re.Match[str]) -> str:
    kept = [f.group(0) for f in _FRAME_PARTS.finditer(m.group(0)) if f.group(1) == SCENARIO]
    return " ".join(kept) if kept else "[<library frames>]"


def _tracebacks(lines: List[str]) -> List[str]:
    out: List[str] = []
    in_tb = False
    keep_source = False
    for line in lines:
        if line.startswith("Traceback (most recent call last):"):
            in_tb, keep_source = True, False
            out.append(line)
            continue
        if in_tb and line.startswith(" "):
            fm = _TB_FILE.match(line)
            if fm:
                keep_source = fm.group(1) == SCENARIO
                if keep_source:
                    out.append(line)
            elif keep_source and not _MARKERS.match(line):
                out.append(line)
            continue
        in_tb = False
        out.append(line)
    return out


#: Messages the *interpreter* words differently from one Python version to another (the
#: oracle is 3.11; ours may run on 3.8-3.15): each variant (a regular expression) is mapped to
#: the 3.11 wording. They come from the runtime (time.sleep, select, int(), slicing), not from
#: either implementation: the stdlib modules on that Python would raise the same.
_VERSION_MESSAGES = [
    (re.compile(pattern), canonical)
    for pattern, canonical in (
        (r"an integer is required \(got type (\w+)\)", r"'\1' object cannot be interpreted as an integer"),
        (r"timestamp too large to convert to C _PyTime_t", "<timestamp overflow>"),
        (r"timestamp out of range for (platform time_t|C PyTime_t)", "<timestamp overflow>"),
        (r"a bytes-like object or a number, not", "a bytes-like object or a real number, not"),
        # 3.14: time.sleep; 3.15: time.sleep, select.select, and slices
        (
            r"'(\w+)' object cannot be interpreted as an integer or float",
            r"'\1' object cannot be interpreted as an integer",
        ),
        (r": must be real number, not (\w+)", r": '\1' object cannot be interpreted as an integer"),
        (r"timeout must be a real number or None, not \w+", "timeout must be a float or None"),
        (r"slice indices must be integers or have an __index__ method",
         "slice indices must be integers or None or have an __index__ method"),
    )
]


def normalize(text: str, path: str) -> str:
    """The documented normalization (module docstring), for a run of scenario ``path``."""
    for variant, canonical in _VERSION_MESSAGES:
        text = variant.sub(canonical, text)
    text = text.replace(path, SCENARIO)
    text = text.replace(HERE + os.sep, "<harness>/")
    text = _LIB_PATH.sub("<lib>", text)
    text = _FRAME_RUN.sub(_keep_scenario_frames, text)
    lines = _tracebacks(text.splitlines())
    text = "\n".join(lines)
    text = _ADDR.sub("0xADDR", text)
    text = _REPR_FAILED.sub("object at ADDR>", text)
    text = _PORT_COLON.sub("127.0.0.1:PORT", text)
    text = _PORT_TUPLE.sub("('127.0.0.1', PORT)", text)
    text = _FD.sub("fd=FD", text)
    text = _DESCRIPTOR.sub("descriptor FD", text)
    return text


def render(r: Run) -> str:
    """A run as compared: normalized output, then ``[exit N]``."""
    status = "timed out" if r.returncode is None else f"exit {r.returncode}"
    body = normalize(r.output, r.path).rstrip("\n")
    return f"{body}\n[{status}]\n" if body else f"[{status}]\n"


# -- the oracle's traces, cached ------------------------------------------------------------------

_memo: Dict[str, Run] = {}


def _cache_key(name: str, version: str) -> str:
    h = hashlib.sha256()
    for p in (scenario_path(name), TRACE_HELPERS, RUNNER):
        with open(p, "rb") as f:
            h.update(f.read())
        h.update(b"\0")
    h.update(f"{CACHE_FORMAT}\0{version}".encode())
    return h.hexdigest()


def oracle_run(name: str) -> Run:
    """The oracle's run of scenario ``name`` (cached; never caches a timeout)."""
    python, version = find_oracle()
    if python is None:
        raise RuntimeError(version)
    key = _cache_key(name, version)
    if key in _memo:
        return _memo[key]
    cache_file = os.path.join(CACHE_DIR, key + ".json")
    try:
        with open(cache_file, encoding="utf-8") as f:
            d = json.load(f)
        r = Run(d["output"], d["returncode"], d["path"])
    except (OSError, ValueError, KeyError):
        r = run("stdlib", name, python)
        if r.returncode is not None:
            try:
                os.makedirs(CACHE_DIR, exist_ok=True)
                tmp = f"{cache_file}.{os.getpid()}.tmp"
                with open(tmp, "w", encoding="utf-8") as f:
                    json.dump(
                        {"output": r.output, "returncode": r.returncode, "path": r.path, "name": name}, f
                    )
                os.replace(tmp, cache_file)
            except OSError:
                pass  # a read-only checkout: the in-memory cache still serves this session
    if r.returncode is not None:
        _memo[key] = r
    return r


def ours_run(name: str, backend: Optional[str] = None) -> Run:
    """asyncore-ng's run of scenario ``name``, with ``ASYNCORE_NG_BACKEND=backend`` if given
    (the event-loop backends ``asyncio`` and ``uvloop`` run the same scenarios)."""
    return run("ng", name, sys.executable, backend=backend)


def diff(expected: str, actual: str, name: str) -> str:
    return "".join(
        difflib.unified_diff(
            expected.splitlines(keepends=True),
            actual.splitlines(keepends=True),
            fromfile=f"{name} (stdlib 3.11)",
            tofile=f"{name} (asyncore-ng, Python {sys.version.split()[0]})",
        )
    )


def main(argv: List[str]) -> int:
    """``python tests/differential/harness.py [-v] [NAME...]``: compare scenarios (all by
    default), print a diff for each difference (``-v``: print both traces too)."""
    verbose = "-v" in argv
    names = [a for a in argv if a != "-v"] or scenario_names()
    sys.path.insert(0, HERE)
    import documented

    backend = os.environ.get("ASYNCORE_NG_BACKEND") or None
    failed = 0
    for name in names:
        expected = documented.apply(name, render(oracle_run(name)), backend)
        actual = documented.apply(name, render(ours_run(name)), backend)
        if verbose:
            print(f"=== {name} (stdlib)\n{expected}=== {name} (ours)\n{actual}")
        if expected != actual:
            failed += 1
            print(f"FAIL {name}\n{diff(expected, actual, name)}")
        else:
            print(f"ok   {name}")
    print(f"{failed} of {len(names)} differ")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
