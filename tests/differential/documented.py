"""The DOCUMENTED differences: the only ones the differential test forgives.

Each entry names a scenario, quotes the text of docs/compat.md that documents the difference
(the test checks that the text is there), and gives the exact rewrite applied to both
normalized traces: a map from an exact line to its replacement. Lines not listed are compared
as they are, so anything else that differs still fails. Keep this table small: a difference
belongs here only if compat.md says it is deliberate. When unsure, it is a bug: leave the
scenario failing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Dict

COMPAT_MD = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "docs", "compat.md"
)


@dataclass(frozen=True)
class Documented:
    #: Text that must appear in docs/compat.md (a heading or part of a table row).
    compat_text: str
    #: Exact line -> replacement, applied to both traces (the stdlib's line and ours map to
    #: the same text, so only these lines may differ).
    lines: Dict[str, str] = field(default_factory=dict)

    def apply(self, text: str) -> str:
        return "\n".join(self.lines.get(line, line) for line in text.split("\n"))


DOCUMENTED: Dict[str, Documented] = {}


def apply(name: str, text: str) -> str:
    entry = DOCUMENTED.get(name)
    return entry.apply(text) if entry is not None else text
