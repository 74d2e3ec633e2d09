#!/usr/bin/env python3
"""Check every internal link of a built site: each ``href``/``src`` that points into the site
must name a file that exists, and its ``#fragment`` an element id (or anchor name) on that page.

    python scripts/check_site_links.py site

Links with a scheme (``https:``, ``mailto:``...) or a host (``//...``) are external and not
followed. Directory links (``foo/``) mean their ``index.html``. Exit status 1, with one line per
broken link, if any is broken. Standard library only.
"""

from __future__ import annotations

import os
import sys
from html.parser import HTMLParser
from typing import Dict, List, Optional, Set, Tuple
from urllib.parse import unquote, urlsplit

LINK_ATTRS = {"a": "href", "link": "href", "img": "src", "script": "src", "source": "src", "iframe": "src"}


class Page(HTMLParser):
    """The ids a page defines and the links it makes (tag, URL, line)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: Set[str] = set()
        self.links: List[Tuple[str, str, int]] = []

    def handle_starttag(self, tag: str, attrs: List[Tuple[str, Optional[str]]]) -> None:
        values: Dict[str, str] = {name: value for name, value in attrs if value is not None}
        for name in ("id", "name") if tag == "a" else ("id",):
            if name in values:
                self.ids.add(values[name])
        wanted = LINK_ATTRS.get(tag)
        if wanted and wanted in values:
            self.links.append((tag, values[wanted], self.getpos()[0]))


def parse(path: str) -> Page:
    page = Page()
    with open(path, encoding="utf-8") as f:
        page.feed(f.read())
    page.close()
    return page


def target_file(site: str, page_path: str, path: str) -> str:
    """The file a link's path names (relative to the page, or to the site root if absolute)."""
    if path.startswith("/"):
        full = os.path.join(site, unquote(path).lstrip("/"))
    else:
        full = os.path.join(os.path.dirname(page_path), unquote(path))
    full = os.path.normpath(full)
    if path.endswith("/") or os.path.isdir(full):
        full = os.path.join(full, "index.html")
    return full


def check(site: str) -> List[str]:
    site = os.path.abspath(site)
    pages: Dict[str, Page] = {}
    for folder, _dirs, names in os.walk(site):
        for name in names:
            if name.endswith(".html"):
                path = os.path.join(folder, name)
                pages[path] = parse(path)
    if not pages:
        return [f"{site}: no HTML pages"]
    broken = []
    for page_path, page in sorted(pages.items()):
        where = os.path.relpath(page_path, site)
        for tag, url, line in page.links:
            parts = urlsplit(url)
            if parts.scheme or parts.netloc or url.startswith(("data:", "javascript:")):
                continue
            target = target_file(site, page_path, parts.path) if parts.path else page_path
            if not target.startswith(site + os.sep):
                broken.append(f"{where}:{line}: <{tag}> {url}: outside the site")
                continue
            if not os.path.exists(target):
                broken.append(f"{where}:{line}: <{tag}> {url}: no such file")
                continue
            fragment = unquote(parts.fragment)
            if fragment and target.endswith(".html"):
                known = pages.get(target)
                if known is None:
                    known = pages[target] = parse(target)
                if fragment not in known.ids:
                    broken.append(f"{where}:{line}: <{tag}> {url}: no anchor #{fragment}")
    return broken


def main(argv: List[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: check_site_links.py SITE_DIR\n")
        return 2
    broken = check(argv[0])
    for line in broken:
        print(f"broken link: {line}")
    links = "every internal link resolves" if not broken else f"{len(broken)} broken link(s)"
    print(f"check_site_links: {links} ({argv[0]})")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
