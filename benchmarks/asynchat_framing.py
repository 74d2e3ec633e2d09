"""asynchat receive cost: asyncore-ng's async_chat against the stdlib's, in the same run.

    python benchmarks/asynchat_framing.py [--quick] [--write-results]

Each case feeds a byte stream to ``handle_read`` through a fake ``recv`` that returns the next
slice of the stream (no sockets, so only framing is measured; both implementations pay the same
slicing), with a collector that only counts bytes and messages.  Every case also runs at twice
its size: linear receive cost shows as a time ratio of about 2.0.

The stdlib's asynchat is measured when this interpreter still ships it (3.8-3.11; run it with
3.11 for the published figures).  ``--write-results`` replaces the "asynchat framing"
section of benchmarks/RESULTS.md, leaving the other sections alone.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import re
import sys
import time
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any, List, NamedTuple, Optional, Tuple

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
HEADING = "## asynchat framing"
MiB = 1024 * 1024


def load_stdlib_asynchat() -> Optional[ModuleType]:
    """The stdlib's asynchat, or None where this interpreter no longer ships it (3.12+).

    Called before ``src`` (which holds an ``asynchat`` too) goes on ``sys.path``; on 3.8-3.11
    the standard library also comes before site-packages, so this is never ours.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import asynchat
        except ImportError:
            return None
    return None if getattr(asynchat, "__asyncore_ng__", False) else asynchat


STDLIB_ASYNCHAT = load_stdlib_asynchat()
sys.path.insert(0, str(HERE.parent / "src"))  # this checkout's engine, whatever is installed

from asyncore_ng.chat import AsyncChat  # noqa: E402


def counting_chat(base: type) -> Any:
    """A chat on ``base`` whose recv hands out a stream in fixed-size reads."""

    class Counting(base):  # type: ignore[misc, valid-type]
        def __init__(self, stream: bytes, read_size: int, terminator: bytes) -> None:
            base.__init__(self)
            self.stream = stream
            self.pos = 0
            self.ac_in_buffer_size = read_size
            self.set_terminator(terminator)
            self.bytes = 0
            self.messages = 0

        def recv(self, size: int) -> bytes:
            pos = self.pos
            self.pos = pos + size
            return self.stream[pos : pos + size]

        def collect_incoming_data(self, data: bytes) -> None:
            self.bytes += len(data)

        def found_terminator(self) -> None:
            self.messages += 1

        def run(self) -> None:
            end = len(self.stream)
            handle_read = self.handle_read
            while self.pos < end:
                handle_read()

    return Counting


class Case(NamedTuple):
    name: str
    unit: str  # "MiB" or "lines": what the cost is given per
    count: int  # how many units
    read_size: int
    stream: bytes
    expect: Tuple[int, int]  # (message bytes, messages) the collector must count


LINE = b"0123456789\r\n"  # a 12-byte line


def message_case(mib: int) -> Case:
    return Case(f"one {mib} MiB message", "MiB", mib, 1024, b"x" * (mib * MiB) + b"\r\n", (mib * MiB, 1))


def lines_case(count: int, read_size: int) -> Case:
    return Case(f"{count:,} lines of 12 bytes", "lines", count, read_size, LINE * count, (count * 10, count))


def measure(chat_class: Any, case: Case) -> float:
    chat = chat_class(case.stream, case.read_size, b"\r\n")
    gc.collect()
    # CPU time of this process: on a shared machine, time spent descheduled is not ours.
    started = time.process_time()
    chat.run()
    elapsed = time.process_time() - started
    got = (chat.bytes, chat.messages)
    if got != case.expect:
        raise AssertionError(f"{case.name}: counted {got}, expected {case.expect}")
    return elapsed


def run(cases: List[Case], implementations: List[Tuple[str, Any]], repeat: int) -> List[List[float]]:
    """Seconds per case and implementation: interleaved runs, the best of ``repeat`` (load on
    the machine can only slow a run down)."""
    results = []
    for case in cases:
        runs = [[measure(cls, case) for _, cls in implementations] for _ in range(repeat)]
        times = [min(column) for column in zip(*runs)]
        results.append(times)
        figures = "  ".join(f"{name} {t:8.3f} s" for (name, _), t in zip(implementations, times))
        print(f"{case.name:<34} {case.read_size // 1024:>4} KiB reads  {figures}", flush=True)
    return results


def per_unit(seconds: float, case: Case) -> str:
    if case.unit == "MiB":
        return f"{case.count / seconds:,.0f} MiB/s"
    return f"{seconds / case.count * 1e9:,.0f} ns/line"


def size_table(cases: List[Case], results: List[List[float]], names: List[str]) -> str:
    """Each case at 1x then 2x: the growth column is the 2x time over the 1x time."""
    lines = [
        "| case | reads | "
        + " | ".join(f"{n} (s)" for n in names)
        + " | "
        + " | ".join(names)
        + " | growth at 2x ("
        + ", ".join(names)
        + ") |",
        "|" + "---|" * (3 + 2 * len(names)),
    ]
    for index, (case, times) in enumerate(zip(cases, results)):
        growth = ""
        if index % 2:
            growth = ", ".join(f"{t / b:.2f}" for t, b in zip(times, results[index - 1]))
        lines.append(
            f"| {case.name} | {case.read_size // 1024} KiB | "
            + " | ".join(f"{t:.3f}" for t in times)
            + " | "
            + " | ".join(per_unit(t, case) for t in times)
            + f" | {growth} |"
        )
    return "\n".join(lines)


def read_size_table(cases: List[Case], results: List[List[float]], names: List[str]) -> str:
    """The same lines read in larger and larger pieces: the cost per line should not move."""
    lines = ["| reads | " + " | ".join(f"{n} per line" for n in names) + " |", "|---|" + "---|" * len(names)]
    for case, times in zip(cases, results):
        lines.append(
            f"| {case.read_size // 1024} KiB | " + " | ".join(per_unit(t, case) for t in times) + " |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="quarter sizes (a smoke run)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure; the best counts")
    parser.add_argument("--write-results", action="store_true", help=f"update {RESULTS.name}")
    args = parser.parse_args()

    implementations: List[Tuple[str, Any]] = [("asyncore-ng", counting_chat(AsyncChat))]
    if STDLIB_ASYNCHAT is not None:
        implementations.append(("stdlib", counting_chat(STDLIB_ASYNCHAT.async_chat)))
    names = [name for name, _ in implementations]

    mib = 16 if args.quick else 64
    count = 250_000 if args.quick else 1_000_000
    by_size = [
        message_case(mib),
        message_case(2 * mib),
        lines_case(count, 65536),
        lines_case(2 * count, 65536),
    ]
    by_read = [lines_case(count // 10, kib * 1024) for kib in (4, 16, 64, 256)]

    tables = [
        size_table(by_size, run(by_size, implementations, args.repeat), names),
        read_size_table(by_read, run(by_read, implementations, args.repeat), names),
    ]
    print()
    print("\n\n".join(tables))
    if args.write_results:
        write_section(tables, count // 10, args)


def write_section(tables: List[str], sweep_lines: int, args: argparse.Namespace) -> None:
    command = "python benchmarks/asynchat_framing.py --write-results" + (" --quick" if args.quick else "")
    body = "\n".join(
        [
            HEADING,
            "",
            f"Measured {time.strftime('%Y-%m-%d')} with `{command}` on CPython "
            f"{platform.python_version()}, {platform.machine()} Linux ({os.cpu_count()} CPUs), both "
            f"implementations in the same process, CPU time, best of {args.repeat} interleaved runs. "
            "`handle_read` is driven by a fake `recv` (no sockets), so only framing is measured, with "
            "a collector that just counts. Each case also runs at twice its size: a growth near "
            "2.00 is linear.",
            "",
            tables[0],
            "",
            f"Cost per line against the read size ({sweep_lines:,} lines of 12 bytes, "
            "`ac_in_buffer_size` set to the read size):",
            "",
            tables[1],
            "",
            "Both grow linearly with the input for a fixed read size, but the stdlib re-slices the rest "
            "of its buffer after every terminator, so its cost per line grows with the size of each "
            "read; asyncore-ng moves a position through the read, and its cost per line stays flat. "
            "When nothing is pending and the terminator is bytes, asyncore-ng frames the messages of a "
            "read without its general framer (the same calls, checked against the stdlib), so it is "
            "faster at every read size. For one large message read in small pieces both are linear "
            "(each hands partial data on as it comes) and cost about the same.",
            "",
        ]
    )
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n\n"
    pattern = re.compile(r"^## asynchat framing\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: body + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + body
    RESULTS.write_text(text.rstrip("\n") + "\n")
    print(f"\nwrote the section to {RESULTS}")


if __name__ == "__main__":
    main()
