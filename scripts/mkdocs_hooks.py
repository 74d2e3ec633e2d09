"""MkDocs hooks for the docs site (mkdocs.yml: ``hooks``). Each keeps one source for something
the site shows:

* ``asyncore_ng.aio`` (the asyncio bridge) gets an API reference page, and the
  cookbook's asyncio page a link to it, only when ``src/asyncore_ng/aio.py`` exists when the
  site is built.
* The performance page shows ``benchmarks/RESULTS.md`` (without its title) where it says
  ``<!-- include: benchmarks/RESULTS.md -->``, and the plots of ``docs/img/benchmarks/`` with a
  caption made from the run's ``results.json`` where it says ``<!-- include: benchmark plots -->``.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List

from mkdocs.structure.files import File, Files

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AIO_SOURCE = os.path.join(ROOT, "src", "asyncore_ng", "aio.py")
AIO_PAGE = "reference/aio.md"
RESULTS_MD = os.path.join(ROOT, "benchmarks", "RESULTS.md")
PLOTS_DIR = os.path.join(ROOT, "docs", "img", "benchmarks")

RESULTS_MARKER = "<!-- include: benchmarks/RESULTS.md -->"
PLOTS_MARKER = "<!-- include: benchmark plots -->"
AIO_MARKER = "<!-- include: aio reference link -->"


def _aio_exists() -> bool:
    return os.path.exists(AIO_SOURCE)


def on_config(config: Any) -> Any:
    if _aio_exists():
        for entry in config["nav"]:
            if isinstance(entry, dict) and "API reference" in entry:
                pages = entry["API reference"]
                if {"asyncore_ng.aio": AIO_PAGE} not in pages:
                    pages.append({"asyncore_ng.aio": AIO_PAGE})
    return config


def on_files(files: Files, config: Any) -> Files:
    if _aio_exists() and files.get_file_from_path(AIO_PAGE) is None:
        files.append(
            File.generated(
                config,
                AIO_PAGE,
                content="# asyncore_ng.aio\n\nThe asyncio bridge.\n\n::: asyncore_ng.aio\n",
            )
        )
    return files


def _results_markdown() -> str:
    with open(RESULTS_MD, encoding="utf-8") as f:
        lines = f.read().splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    return "\n".join(lines).strip("\n") + "\n"


def _plots_markdown(page_dir: str) -> str:
    data_path = os.path.join(PLOTS_DIR, "results.json")
    if not os.path.exists(data_path):
        return (
            "No plots yet: `python3 benchmarks/run.py --write` (or `--plot docs/img/benchmarks`) "
            "draws them.\n"
        )
    with open(data_path, encoding="utf-8") as f:
        data: Dict[str, Any] = json.load(f)
    meta: Dict[str, str] = data.get("meta") or {}
    scenarios: Dict[str, Any] = data.get("scenarios") or {}
    out: List[str] = []
    rel = os.path.relpath(PLOTS_DIR, os.path.join(ROOT, "docs", page_dir)).replace(os.sep, "/")
    facts = [f"{key.lower()} {meta[key]}" for key in ("Date", "Tree") if meta.get(key)]
    command = meta.get("Command", "")
    out.append(
        "The plots below were drawn by `benchmarks/plot.py` from the run "
        + (f"{command} " if command else "")
        + (f"({', '.join(facts)}; machine: {meta.get('Machine', '?')})" if facts else "")
        + f". Its data is [results.json]({rel}/results.json)."
    )
    out.append("")
    if meta.get("Method"):
        out.append(f"Method: {meta['Method']}.")
        out.append("")
    out += _plots_caveats(data)
    for key in data.get("timed") or {}:
        png = os.path.join(PLOTS_DIR, f"{key}.png")
        if os.path.exists(png):
            title = (scenarios.get(key) or {}).get("title", key)
            out.append(f"![{title}]({rel}/{key}.png)")
            out.append("")
    return "\n".join(out)


def _results_run() -> Dict[str, str]:
    """The Date and Tree lines of RESULTS.md's timed block (the run its echo tables are from)."""
    with open(RESULTS_MD, encoding="utf-8") as f:
        text = f.read()
    start, end = text.find("<!-- begin timed -->"), text.find("<!-- end timed -->")
    found: Dict[str, str] = {}
    for line in text[start:end].splitlines() if 0 <= start < end else []:
        for key in ("Date", "Tree"):
            if line.startswith(f"- {key}: "):
                found[key] = line[len(key) + 4 :].strip()
    return found


def _plots_caveats(data: Dict[str, Any]) -> List[str]:
    """What a reader must know before comparing the plots with the tables: a short run, other
    processes' load, and whether the tables come from the same run."""
    meta: Dict[str, str] = data.get("meta") or {}
    settings: Dict[str, Any] = data.get("settings") or {}
    notes = []
    if settings.get("quick"):
        notes.append(
            "This was a short run (`--quick`: short windows, a smaller stream in S5, fewer idle "
            "connections in S4): it shows the shape, not figures to quote."
        )
    waited = [
        float(x.get("interference", 0.0))
        for per_peer in (data.get("timed") or {}).values()
        for samples in per_peer.values()
        for x in samples
        if x.get("ok")
    ]
    if waited and max(waited) > 0.10:
        notes.append(
            f"Other processes shared the machine: in the busiest measurement the server or the "
            f"load generator spent {100 * max(waited):.0f}% of the window waiting for a CPU, "
            "which lowers rates more than CPU per round trip."
        )
    tables = _results_run()
    if tables and (tables.get("Tree"), tables.get("Date")) != (meta.get("Tree"), meta.get("Date")):
        notes.append(
            f"The echo tables under Recorded results come from another run ({tables.get('Date', '?')}, "
            f"{tables.get('Tree', '?')}); `run.py --write` makes both from the same run."
        )
    if not notes:
        return []
    return ['!!! note "About this run"', *(f"    {note}\n" for note in notes), ""]


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    page_dir = os.path.dirname(page.file.src_uri)
    if RESULTS_MARKER in markdown:
        markdown = markdown.replace(RESULTS_MARKER, _results_markdown())
    if PLOTS_MARKER in markdown:
        markdown = markdown.replace(PLOTS_MARKER, _plots_markdown(page_dir))
    if AIO_MARKER in markdown:
        if _aio_exists():
            target = os.path.relpath(AIO_PAGE, page_dir or ".").replace(os.sep, "/")
            text = f"The API reference of the bridge: [asyncore_ng.aio]({target})."
        else:
            text = (
                "This build of the site comes from a tree without `asyncore_ng/aio.py`: its API "
                "reference page appears here once the module is in the tree."
            )
        markdown = markdown.replace(AIO_MARKER, text)
    return markdown
