"""Shared test setup: our modules installed as asyncore/asynchat, helpers that wait on
conditions (never on sleeps), and leak checks."""

from __future__ import annotations

import os
import sys

import asyncore_ng

asyncore_ng._install.load_shim("asyncore")  # TODO install() once asynchat lands; before any test module imports asyncore (3.8-3.11: the stdlib's wins)

sys.path.insert(0, os.path.dirname(__file__))
