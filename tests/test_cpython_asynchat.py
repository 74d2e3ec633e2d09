"""CPython's own test_asynchat, run against asyncore-ng (see cpython_suites.py)."""

from __future__ import annotations

import sys

from cpython_suites import load_suite

import asyncore_ng

# Ours in sys.modules before the suite imports them: on 3.8-3.11 the stdlib's would win.
asyncore_ng.install()
assert sys.modules["asynchat"].__asyncore_ng__ and sys.modules["asyncore"].__asyncore_ng__

globals().update(load_suite("test_asynchat"))
