"""asyncore.read, write and _exception called directly on objects whose event handler
raises: ordinary exceptions (OSError included) go to handle_error; ExitNow, KeyboardInterrupt
and SystemExit pass through; a handle_error that itself raises propagates.
Issue: none (documented asyncore API: read/write/_exception)."""

import asyncore
import errno

from _trace import exc, log


class Rec:
    def __init__(self, fail, error_fails=False):
        self.fail = fail
        self.error_fails = error_fails
        self.calls = []

    def _raise(self, name):
        self.calls.append(name)
        raise self.fail

    def handle_read_event(self):
        self._raise("read")

    def handle_write_event(self):
        self._raise("write")

    def handle_expt_event(self):
        self._raise("expt")

    def handle_close(self):
        self.calls.append("close")

    def handle_error(self):
        self.calls.append("error")
        if self.error_fails:
            raise RuntimeError("handle_error failed")


for fn in (asyncore.read, asyncore.write, asyncore._exception):
    for fail in (
        ValueError("v"),
        OSError(errno.ECONNRESET, "reset"),
        asyncore.ExitNow(),
        KeyboardInterrupt(),
        SystemExit(0),
        GeneratorExit(),
    ):
        r = Rec(fail)
        try:
            fn(r)
            log(f"{fn.__name__}: {exc(fail)} -> {r.calls}")
        except BaseException as e:
            log(f"{fn.__name__}: {exc(fail)} -> {r.calls}, raised {exc(e)}")
    r = Rec(ValueError("v"), error_fails=True)
    try:
        fn(r)
        log(f"{fn.__name__}: failing handle_error -> {r.calls}")
    except BaseException as e:
        log(f"{fn.__name__}: failing handle_error -> {r.calls}, raised {exc(e)}")
