"""compact_traceback(): the ((file, function, line), type, value, info) shape for an
exception raised three frames deep in the scenario (all frames are the scenario's); and what
it raises with no exception being handled.
Issue: none (documented asyncore API: compact_traceback)."""

import asyncore

from _trace import exc, log


def inner():
    raise KeyError("deep")


def middle():
    inner()


def outer():
    middle()


try:
    outer()
except KeyError:
    (file, function, line), t, v, info = asyncore.compact_traceback()
    log("innermost:", file, function, line, type(line).__name__)
    log("type:", t, "value:", repr(v))
    log("info:", info)

try:
    asyncore.compact_traceback()
    log("no exception: returned")
except Exception as e:
    log("no exception: raised", exc(e))
