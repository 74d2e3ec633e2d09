#!/usr/bin/env bash
# Builds the docs site (mkdocs.yml: MkDocs, Material, mkdocstrings) into site/ and fails on any
# warning or broken link: `mkdocs build --strict` (broken links and anchors between pages are
# warnings there), then scripts/check_site_links.py over the built HTML (every internal link,
# image and anchor of every page, the API reference's included). Its own venv, .ci/venvs/docs, on
# CPython 3.13 (DOCS_PYTHON=/path/to/python3 overrides), gets `pip install .[docs]` (pinned
# versions in pyproject.toml). scripts/test.sh runs it; so does .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.ci/venvs/docs

find_python() {  # newest pyenv CPython 3.13.x, else python3.13 on PATH
    local dir
    if command -v pyenv >/dev/null 2>&1; then
        dir=$(ls -d "$(pyenv root)"/versions/3.13.* 2>/dev/null | grep -E '/3\.13\.[0-9]+$' | sort -V | tail -n 1)
        if [ -n "$dir" ] && [ -x "$dir/bin/python3" ]; then echo "$dir/bin/python3"; return; fi
    fi
    command -v python3.13 2>/dev/null || true
}

started=$SECONDS
if [ ! -x "$venv/bin/python" ]; then
    py=${DOCS_PYTHON:-$(find_python)}
    if [ -z "$py" ]; then
        echo "docs: CPython 3.13 not found (set DOCS_PYTHON)"
        exit 1
    fi
    "$py" -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check ".[docs]"
rm -rf site
export NO_MKDOCS_2_WARNING=1  # (Material prints a banner about its future otherwise)
"$venv/bin/python" -m mkdocs build --strict --clean --site-dir site
"$venv/bin/python" scripts/check_site_links.py site
echo "docs: site/ built and checked in $((SECONDS - started)) s"
