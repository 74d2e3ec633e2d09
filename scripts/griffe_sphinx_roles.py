"""A griffe extension for the docs site (mkdocs.yml): the package's docstrings as Markdown.

The docstrings are prose written for readers of the source, with a little reStructuredText:
Sphinx roles (``:meth:`start_tls```, ``:class:`~asyncore_ng.framing.InputFramer```) and ``::``
before an indented example. Markdown shows both literally, so before mkdocstrings renders a
docstring this turns each role into a code span (the name as written, or its last part after
``~``; methods and functions get ``()``) and ``Text::`` into ``Text:``. The indented block that
follows is already a code block in Markdown. Nothing else is changed.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(meth|func|class|attr|data|mod|exc|obj|const):`(~?)([^`]+)`")
LITERAL_INTRO = re.compile(r"(\S)::[ \t]*$", re.M)


def _role(match: re.Match[str]) -> str:
    kind, short, target = match.groups()
    name = target.rsplit(".", 1)[-1] if short else target
    if kind in ("meth", "func") and not name.endswith(")"):
        name += "()"
    return f"`{name}`"


def markdown_of(text: str) -> str:
    """The docstring ``text`` with its reStructuredText bits made Markdown."""
    return LITERAL_INTRO.sub(r"\1:", ROLE.sub(_role, text))


class SphinxRoles(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown_of(obj.docstring.value)
