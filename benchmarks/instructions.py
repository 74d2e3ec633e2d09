"""Instruction counts against the stdlib modules, in one run: the performance regression check.

    python3 benchmarks/instructions.py                 # measure, print the table
    python3 benchmarks/instructions.py --check         # ... and exit 1 if a ratio misses its target
    python3 benchmarks/instructions.py --json out.json # ... and write the figures

What is counted: user-space instructions of the echo *server* process (interpreter and extension
code, not the kernel), by ``valgrind --tool=callgrind``, as the difference between a short and a
long run of the same server, divided by the units between them (round trips, lines, MB): start-up
and teardown cancel out. Callgrind counts instructions, not seconds, so the figures repeat to
within about 0.1% on a loaded machine, where timings swing by tens of percent: a ratio that
moves is a change in the code, not noise. (Timed figures: ``benchmarks/run.py``.)

The peers, both on the same CPython 3.13 (``--python``, default: the interpreter running this):

* ``stdlib``: the 3.11 ``asyncore.py`` and ``asynchat.py``, copied at run time from the CPython
  3.11 installation (``--stdlib-from``, default: pyenv's newest 3.11) into a temporary folder put
  first on ``PYTHONPATH``: the modules asyncore-ng replaces, on the interpreter users run.
* ``ng``: asyncore-ng (as importable by that interpreter), through ``servers/with_asyncore_ng.py``.

The shapes (each server is the benchmark's own script, unchanged, with poll semantics):

* ``echo1``: one connection ping-pong, 64-byte messages: one event per loop pass.
* ``echo100``: 100 connections ping-pong: many events per pass.
* ``bulk``: the docs' ``self.send(self.recv(8192))`` echo streaming one connection, per MB.
* ``bulk_input``: the same with ``ASYNCORE_NG_BULK_INPUT=1`` (the stdlib figure is ``bulk``'s).
* ``line100``: the ``async_chat`` line echo, 100 connections, per line.
* ``map_per_call``: ``asyncore.poll(0.0, {fd: channel})`` with a new one-channel map per call,
  one byte to read each time (``servers/map_per_call.py``; no server, no load generator), per call.

The targets are the ratios ng / stdlib that ``--check`` enforces; a shape whose target is not
met yet (``CEILINGS``) is held to a ceiling at its measured ratio instead, and marked "missed".
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Dict, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SERVERS = os.path.join(HERE, "servers")
BUILD = os.path.join(HERE, "build")
LOADGEN = os.path.join(BUILD, "loadgen")

#: shape -> (server script, loadgen mode, connections, env for ng, unit, low, high)
SHAPES: Dict[str, Tuple[str, str, int, Dict[str, str], str, int, int]] = {
    "echo1": ("asyncore_echo.py", "pingpong", 1, {}, "round trip", 2000, 6000),
    "echo100": ("asyncore_echo.py", "pingpong", 100, {}, "round trip", 4000, 12000),
    "bulk": ("asyncore_echo.py", "stream", 1, {}, "MB", 8, 24),
    "bulk_input": ("asyncore_echo.py", "stream", 1, {"ASYNCORE_NG_BULK_INPUT": "1"}, "MB", 8, 24),
    "line100": ("asynchat_line_echo.py", "line", 100, {}, "line", 4000, 12000),
    "map_per_call": ("map_per_call.py", "local", 1, {}, "call", 2000, 6000),
}

#: The most ng / stdlib may be, per shape (the pass-cost work's "done when").
TARGETS: Dict[str, float] = {
    "echo1": 1.00,
    "echo100": 0.85,
    "bulk": 1.00,
    "bulk_input": 0.50,
    "line100": 0.85,
    "map_per_call": 2.00,
}

#: Shapes whose target is not met yet: --check holds them to this ceiling instead (a regression
#: guard at the measured ratio plus a margin), and the table says "missed".
CEILINGS: Dict[str, float] = {
    "map_per_call": 3.00,
}

MB = 1 << 20


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def build_loadgen() -> None:
    source = os.path.join(HERE, "loadgen.c")
    if os.path.exists(LOADGEN) and os.path.getmtime(LOADGEN) >= os.path.getmtime(source):
        return
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        raise SystemExit("no C compiler (cc): the load generator needs one")
    os.makedirs(BUILD, exist_ok=True)
    subprocess.run([cc, "-O2", "-Wall", "-Wextra", "-o", LOADGEN, source], check=True)


def find_stdlib(given: Optional[str]) -> str:
    """The folder of CPython 3.11's asyncore.py (the last version that shipped it)."""
    candidates = [given] if given else []
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    candidates += sorted(
        glob.glob(os.path.join(root, "versions", "3.11.*", "lib", "python3.11")), reverse=True
    )
    for folder in candidates:
        if folder and os.path.exists(os.path.join(folder, "asyncore.py")):
            return folder
    raise SystemExit("CPython 3.11's asyncore.py was not found (--stdlib-from FOLDER)")


def copy_stdlib(stdlib: str, tmp: str) -> str:
    """A folder under ``tmp`` holding CPython 3.11's asyncore.py and asynchat.py from ``stdlib``,
    importable on 3.12+: the one line changed is their import-time deprecation, which raises
    there ("removed in 3.12"). Everything else runs as shipped."""
    copied = os.path.join(tmp, "stdlib")
    os.makedirs(copied)
    for name in ("asyncore.py", "asynchat.py"):
        with open(os.path.join(stdlib, name)) as f:
            text = f.read()
        text, n = re.subn(r"^(warnings\.)?_deprecated\(__name__.*$", "pass", text, flags=re.M)
        if n != 1:
            raise SystemExit(f"{name}: the deprecation call was not found once ({n})")
        with open(os.path.join(copied, name), "w") as f:
            f.write(text)
    return copied


def callgrind_total(path: str) -> int:
    with open(path) as f:
        for line in f:
            if line.startswith(("totals:", "summary:")):
                return int(line.split()[1])
    raise RuntimeError(f"no totals in {path}")


def _wait_ready(proc: subprocess.Popen[str], deadline: float) -> int:
    """The port the server announced on its first stdout line (a JSON object)."""
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("the server exited before it was ready")
        if line.startswith("{"):
            return int(json.loads(line)["port"])
    raise RuntimeError("the server did not start in time")


def count_once(python: str, peer: str, shape: str, units: int, env: Dict[str, str], out_dir: str) -> int:
    script, mode, conns, ng_env, _, _, _ = SHAPES[shape]
    out = os.path.join(out_dir, f"{peer}.{shape}.{units}.callgrind")
    argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", python, "-X", "frozen_modules=on"]
    if peer == "ng":
        argv += [os.path.join(SERVERS, "with_asyncore_ng.py")]
        env = dict(env, **ng_env)
    if mode == "local":  # the script does its own work: no server, no load generator
        argv += [os.path.join(SERVERS, script), "--calls", str(units)]
        result = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=SERVERS, timeout=600)
        if result.returncode != 0:
            raise RuntimeError(f"{script} failed: {result.stderr.strip()[-300:]}")
        return callgrind_total(out)
    argv += [os.path.join(SERVERS, script), "--port", "0", "--poll"]
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=SERVERS
    )
    try:
        port = _wait_ready(proc, time.monotonic() + 120)
        args = [LOADGEN, "--port", str(port), "--deadline", "600"]
        if mode == "stream":
            args += ["--mode", "stream", "--bytes", str(units * MB)]
        else:
            args += ["--mode", mode, "--conns", str(conns), "--count", str(units)]
        result = subprocess.run(args, capture_output=True, text=True, timeout=660)
        report = json.loads(result.stdout.strip().splitlines()[-1]) if result.stdout.strip() else {}
        if result.returncode != 0 or not report.get("ok"):
            raise RuntimeError(
                f"load generator failed: {report.get('error') or result.stderr.strip()[-300:]}"
            )
    finally:
        proc.send_signal(signal.SIGTERM)  # valgrind writes its counts on the way out
        try:
            proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
    return callgrind_total(out)


def measure(python: str, peer: str, shape: str, env: Dict[str, str], out_dir: str) -> float:
    _, _, _, _, _, low, high = SHAPES[shape]
    first = count_once(python, peer, shape, low, env, out_dir)
    second = count_once(python, peer, shape, high, env, out_dir)
    return (second - first) / float(high - low)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--python", default=sys.executable, help="the interpreter both peers run on")
    parser.add_argument("--stdlib-from", help="folder holding CPython 3.11's asyncore.py and asynchat.py")
    parser.add_argument(
        "--shapes", default=",".join(SHAPES), help="comma-separated subset of " + ", ".join(SHAPES)
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if a ratio misses its target")
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument("--keep", help="keep the callgrind files in this folder (for callgrind_annotate)")
    args = parser.parse_args()
    if not shutil.which("valgrind"):
        raise SystemExit("valgrind is needed (callgrind counts the instructions)")
    shapes = [s for s in args.shapes.split(",") if s]
    for s in shapes:
        if s not in SHAPES:
            raise SystemExit(f"unknown shape {s!r}; have {', '.join(SHAPES)}")
    build_loadgen()
    stdlib = find_stdlib(args.stdlib_from)
    version = subprocess.run(
        [args.python, "-c", "import sys; print(sys.version.split()[0])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    results: Dict[str, Dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="ng-instr-") as tmp:
        copied = copy_stdlib(stdlib, tmp)
        out_dir = args.keep or os.path.join(tmp, "out")
        os.makedirs(out_dir, exist_ok=True)
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCORE_NG_")}
        base_env["PYTHONHASHSEED"] = "0"
        base_env["PYTHONDONTWRITEBYTECODE"] = "1"
        stdlib_env = dict(base_env, PYTHONPATH=copied)
        ng_env = dict(base_env)
        src = os.path.join(ROOT, "src")
        if os.environ.get("ASYNCORE_NG_INSTR_SRC") == "1":  # (a checkout without installing)
            ng_env["PYTHONPATH"] = src
        for key in ("ASYNCORE_NG_ACCELERATOR",):
            if key in os.environ:
                ng_env[key] = os.environ[key]
        stdlib_cache: Dict[str, float] = {}
        for shape in shapes:
            stdlib_shape = "bulk" if shape == "bulk_input" else shape
            if stdlib_shape not in stdlib_cache:
                stdlib_cache[stdlib_shape] = measure(args.python, "stdlib", stdlib_shape, stdlib_env, out_dir)
            ours = measure(args.python, "ng", shape, ng_env, out_dir)
            theirs = stdlib_cache[stdlib_shape]
            results[shape] = {"stdlib": theirs, "ng": ours, "ratio": ours / theirs, "target": TARGETS[shape]}
            unit = SHAPES[shape][4]
            log(
                f"{shape:<11} stdlib {theirs:>12,.0f}  asyncore-ng {ours:>12,.0f} per {unit}  "
                f"ratio {ours / theirs:.3f} (target <= {TARGETS[shape]:.2f})"
            )
    print(f"CPython {version}, user-space instructions of the server (or script) per unit (callgrind)")
    print("| shape | unit | stdlib (3.11 modules) | asyncore-ng | ratio | target |")
    print("|---|---|---:|---:|---:|---:|")
    failed = []
    for shape, r in results.items():
        mark = "" if r["ratio"] <= r["target"] else " (missed)"
        if r["ratio"] > CEILINGS.get(shape, r["target"]):
            failed.append(shape)
        figures = f"{r['stdlib']:,.0f} | {r['ng']:,.0f} | {r['ratio']:.3f}{mark}"
        print(f"| {shape} | {SHAPES[shape][4]} | {figures} | <= {r['target']:.2f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"python": version, "results": results}, f, indent=2)
    if args.check and failed:
        print(f"FAILED: ratios past their targets (or ceilings): {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
