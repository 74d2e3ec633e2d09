"""The cost of one ``asyncore.poll()`` call, timed: asyncore-ng against the stdlib modules.

    python3 benchmarks/per_call.py [--python PY] [--runs 3] [--calls 200000]

Runs ``servers/map_per_call.py`` (one byte to read per call, one event per call) for each shape
below, with CPython 3.11's own ``asyncore.py`` copied onto the same interpreter (as
``instructions.py`` does) and with asyncore-ng, and prints the CPU time (user + system, of the
script's process) per call: that of ``--calls`` calls minus that of a tenth as many, which
takes start-up and imports out; user time alone beside it (the system calls, one send and one
wait per call on both sides, weigh what the machine's kernel makes them weigh: the total's ratio
moves with it from day to day, the user-time ratio much less). Each peer runs ``--runs`` times,
alternating, pinned to one core when ``taskset`` is there; the table gives medians and the ratio
ng / stdlib.

Shapes: ``map per call`` (``poll(0.0, {fd: channel})`` with a new dict each call: an IRC
client's ``process_once()``), ``same map`` (``while ...: poll(0.0, the_map)``), and both with
``poll2``. The instruction counts of the first are in ``instructions.py`` (``map_per_call``);
this is the timed view of the same script. A benchmark, not a test: timings on a busy machine
swing; run it on a quiet one.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from typing import Dict, List, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from instructions import ROOT, SERVERS, copy_stdlib, find_stdlib  # noqa: E402

SHAPES = {
    "map per call, poll": [],
    "map per call, poll2": ["--poll2"],
    "same map, poll": ["--same-map"],
    "same map, poll2": ["--same-map", "--poll2"],
}


def cpu_of(argv: List[str], env: Dict[str, str]) -> Tuple[float, float]:
    """User and system CPU seconds of one run of ``argv`` (a child process)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, env=env, cwd=SERVERS, check=True, timeout=600)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--python", default=sys.executable, help="the interpreter both peers run on")
    parser.add_argument("--stdlib-from", help="folder holding CPython 3.11's asyncore.py")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument(
        "--src",
        nargs="?",
        const=os.path.join(ROOT, "src"),
        help="asyncore-ng from this folder (default: this checkout's src/) rather than installed",
    )
    args = parser.parse_args()
    pin = ["taskset", "-c", "1"] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []
    short = max(1, args.calls // 10)
    with tempfile.TemporaryDirectory(prefix="ng-per-call-") as tmp:
        copied = copy_stdlib(find_stdlib(args.stdlib_from), tmp)
        base = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCORE_NG_")}
        peers = {
            "stdlib": (dict(base, PYTHONPATH=copied), []),
            "asyncore-ng": (
                dict(base, PYTHONPATH=args.src) if args.src else dict(base),
                [os.path.join(SERVERS, "with_asyncore_ng.py")],
            ),
        }
        runs = f"medians of {args.runs} ({args.calls:,} calls minus {short:,})"
        print(f"{args.python}: CPU time per call, {runs}")
        print("| shape | stdlib (3.11 modules) | asyncore-ng | ratio | user time only: stdlib, ng, ratio |")
        print("|---|---:|---:|---:|---:|")
        for shape, extra in SHAPES.items():
            total: Dict[str, List[float]] = {peer: [] for peer in peers}
            user: Dict[str, List[float]] = {peer: [] for peer in peers}
            for _ in range(args.runs):
                for peer, (env, prefix) in peers.items():
                    script = [*pin, args.python, *prefix, os.path.join(SERVERS, "map_per_call.py"), *extra]
                    long_user, long_sys = cpu_of([*script, "--calls", str(args.calls)], env)
                    short_user, short_sys = cpu_of([*script, "--calls", str(short)], env)
                    scale = 1e6 / (args.calls - short)  # (microseconds per call)
                    user[peer].append((long_user - short_user) * scale)
                    total[peer].append((long_user + long_sys - short_user - short_sys) * scale)
            theirs, ours = (statistics.median(total[peer]) for peer in peers)
            theirs_user, ours_user = (statistics.median(user[peer]) for peer in peers)
            print(
                f"| {shape} | {theirs:.2f} us | {ours:.2f} us | {ours / theirs:.2f}x | "
                f"{theirs_user:.2f} us, {ours_user:.2f} us, {ours_user / theirs_user:.2f}x |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
