"""CPython's own test_asyncore, run against asyncore-ng (see cpython_suites.py)."""

from __future__ import annotations

import asyncore

from cpython_suites import load_suite

import asyncore_ng

assert asyncore_ng.shim_status()["asyncore"] == "asyncore-ng" or asyncore.__asyncore_ng__

globals().update(load_suite("test_asyncore"))
