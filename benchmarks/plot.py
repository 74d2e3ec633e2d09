#!/usr/bin/env python3
"""Plots of a benchmark run: one PNG per scenario, rate and server CPU, asyncore-ng beside its peers.

    python3 benchmarks/plot.py RESULTS.json [--out DIR]      (default DIR: docs/img/benchmarks)

``RESULTS.json`` is what ``benchmarks/run.py --json PATH`` saves (``run.py --plot DIR`` and
``run.py --write`` call this script themselves, with the JSON saved as ``DIR/results.json``).
Each scenario of the run's timed results gets ``DIR/<scenario>.png``: on the left the rate
(round trips/s, or MB/s for the streams; higher is better), on the right the server's CPU time
per round trip (or per MB; lower is better), one bar per peer at the median of its repetitions,
with a line from the lowest to the highest repetition when there were several. asyncore-ng's
peers are drawn in one colour, the others in another, the C echo server (the load generator's
ceiling) hatched. PNGs of scenarios no longer in the results are removed, so that ``DIR`` holds
the plots of one run only.

Needs matplotlib (the ``docs`` extra: ``pip install .[docs]``; scripts/docs.sh makes
``.ci/venvs/docs`` with it). run.py itself needs none of this.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import sys
import textwrap
from typing import Any, Dict, List, Optional, Sequence, Tuple

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH_DIR)
DEFAULT_OUT = os.path.join(ROOT, "docs", "img", "benchmarks")

OURS = "#c2410c"  # asyncore-ng
OTHERS = "#64748b"  # every other peer
CEILING = "#cbd5e1"  # the C echo server

#: Used when a JSON saved by an older run.py lacks the "scenarios" key.
FALLBACK_UNITS = {"S5": "MB", "T5": "MB"}


class Bar:
    """One peer in one scenario: medians and the range of its repetitions."""

    def __init__(self, peer: str, family: str, samples: Sequence[Dict[str, Any]]) -> None:
        good = [s for s in samples if s.get("ok")]
        self.peer = peer
        self.family = family
        self.values = [float(s["value"]) for s in good]
        self.cpus = [float(s["cpu_us"]) for s in good]
        self.capped = any(s.get("capped") for s in good)

    @property
    def measured(self) -> bool:
        return bool(self.values)

    @staticmethod
    def summary(xs: List[float]) -> Tuple[float, float, float]:
        return statistics.median(xs), min(xs), max(xs)


def family_of(name: str, peers: Dict[str, Any]) -> str:
    known = peers.get(name)
    if known and known.get("family"):
        return str(known["family"])
    return "ng" if name.startswith("ng-") else name.split("-", 1)[0]


def bars_for(per_peer: Dict[str, List[Dict[str, Any]]], peers: Dict[str, Any]) -> List[Bar]:
    """The measured peers: asyncore-ng's first, then the others in the run's order, the C
    echo server last."""
    bars = [Bar(name, family_of(name, peers), samples) for name, samples in per_peer.items()]
    rank = {"ng": 0, "c": 2}
    return sorted((b for b in bars if b.measured), key=lambda b: rank.get(b.family, 1))


def colour(bar: Bar) -> str:
    if bar.family == "ng":
        return OURS
    return CEILING if bar.family == "c" else OTHERS


def fmt(value: float, unit: str) -> str:
    """``unit``: "rate" (round trips/s: 12.3k), "MB/s" (whole numbers), "cpu"."""
    if unit == "MB/s":
        return f"{value:.0f}"
    if unit == "rate":
        if value >= 1e4:
            return f"{value / 1e3:.1f}k"
        if value >= 1e3:
            return f"{value / 1e3:.2f}k"
        return f"{value:.0f}"
    return f"{value:.2f}" if value < 100 else f"{value:.0f}"


def panel(ax: Any, bars: List[Bar], which: str, label: str, stream: bool) -> None:
    """Horizontal bars of ``which`` ("value" or "cpu"), first peer on top."""
    unit = ("MB/s" if stream else "rate") if which == "value" else "cpu"
    names = [b.peer for b in bars]
    ys = list(range(len(bars)))[::-1]
    stats = [Bar.summary(b.values if which == "value" else b.cpus) for b in bars]
    medians = [s[0] for s in stats]
    for y, b, m in zip(ys, bars, medians):
        ax.barh(
            [y],
            [m],
            color=colour(b),
            hatch="//" if b.family == "c" else None,
            edgecolor="#334155",
            linewidth=0.6,
            height=0.7,
        )
    spread = [(m - lo, hi - m) for m, lo, hi in stats]
    if any(lo or hi for lo, hi in spread):
        ax.errorbar(
            medians,
            ys,
            xerr=list(zip(*spread)),
            fmt="none",
            ecolor="#0f172a",
            elinewidth=1,
            capsize=3,
        )
    top = max(hi for _m, _lo, hi in stats) if stats else 1.0
    for y, (m, _lo, hi) in zip(ys, stats):
        ax.text(hi + top * 0.02, y, fmt(m, unit), va="center", fontsize=9)
    ax.set_yticks(ys)
    ax.set_yticklabels(names, fontsize=10)
    ax.set_xlim(0, top * 1.22)
    if which == "value":
        ax.xaxis.set_major_formatter(lambda x, _pos: fmt(x, unit))
    ax.set_xlabel(label, fontsize=10)
    ax.grid(axis="x", color="#e2e8f0", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def scenario_figure(plt: Any, key: str, info: Dict[str, Any], bars: List[Bar], caption: str) -> Any:
    stream = info.get("unit", FALLBACK_UNITS.get(key, "rt")) == "MB"
    rate_label = "MB/s (higher is better)" if stream else "round trips/s (higher is better)"
    cpu_label = (
        "server CPU µs per MB (lower is better)"
        if stream
        else "server CPU µs per round trip (lower is better)"
    )
    lines = textwrap.wrap(caption, 150)
    height = 1.6 + 0.38 * len(bars) + 0.14 * len(lines)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, height), sharey=True)
    panel(left, bars, "value", rate_label, stream)
    panel(right, bars, "cpu", cpu_label, stream)
    fig.suptitle(info.get("title", key), fontsize=12, x=0.01, ha="left")
    fig.text(0.01, 0.01, "\n".join(lines), fontsize=8, color="#475569", ha="left", va="bottom")
    fig.tight_layout(rect=(0, (0.16 + 0.14 * len(lines)) / height, 1, 0.97))
    return fig


def caption_of(data: Dict[str, Any]) -> str:
    meta = data.get("meta") or {}
    settings = data.get("settings") or {}
    parts = []
    if meta.get("Date"):
        parts.append(str(meta["Date"]))
    if meta.get("Tree"):
        parts.append(str(meta["Tree"]))
    if settings:
        reps = settings.get("reps")
        parts.append(
            f"{reps} repetition(s), medians" + (", bars: lowest to highest" if reps and reps > 1 else "")
        )
        if settings.get("quick"):
            parts.append("--quick (short windows)")
    waited = [
        float(x.get("interference", 0.0))
        for per_peer in (data.get("timed") or {}).values()
        for samples in per_peer.values()
        for x in samples
        if x.get("ok")
    ]
    if waited:
        parts.append(f"other processes' load: up to {100 * max(waited):.0f}% of a window waited for a CPU")
    parts.append("asyncore-ng in orange")
    if any("c-echo" in per_peer for per_peer in (data.get("timed") or {}).values()):
        parts.append("C echo server (hatched): the load generator's ceiling")
    return "; ".join(parts)


def draw(data: Dict[str, Any], out_dir: str) -> List[str]:
    """Write one PNG per scenario of ``data`` into ``out_dir``; return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    timed = data.get("timed")
    if not timed:
        raise SystemExit("no timed results in this JSON (an --instructions run has none)")
    scenarios: Dict[str, Any] = data.get("scenarios") or {}
    peers: Dict[str, Any] = data.get("peers") or {}
    caption = caption_of(data)
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for key, per_peer in timed.items():
        bars = bars_for(per_peer, peers)
        if not bars:
            continue
        fig = scenario_figure(plt, key, scenarios.get(key) or {}, bars, caption)
        path = os.path.join(out_dir, f"{key}.png")
        fig.savefig(path, dpi=110, metadata={"Software": None})
        plt.close(fig)
        written.append(path)
    for stale in glob.glob(os.path.join(out_dir, "*.png")):
        if stale not in written:
            os.remove(stale)
    return written


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="plots of a benchmarks/run.py --json file")
    parser.add_argument("results", help="the JSON saved by benchmarks/run.py --json PATH")
    parser.add_argument("--out", default=DEFAULT_OUT, help="where the PNGs go (default: docs/img/benchmarks)")
    args = parser.parse_args(argv)
    with open(args.results, encoding="utf-8") as f:
        data = json.load(f)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        sys.stderr.write("plot.py needs matplotlib: pip install .[docs] (or run scripts/docs.sh once)\n")
        return 2
    for path in draw(data, args.out):
        print(os.path.relpath(path, os.getcwd()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
