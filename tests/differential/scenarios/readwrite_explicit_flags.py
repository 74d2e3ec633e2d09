"""asyncore.readwrite(obj, flags) called directly with explicit flag combinations on an
object that records calls, and on objects whose event handlers raise: OSError with a
'disconnected' errno -> handle_close, other OSError -> handle_error, ExitNow/KeyboardInterrupt
pass through, other exceptions -> handle_error.
Issue: none (documented asyncore API: readwrite)."""

import asyncore
import errno
import select

from _trace import exc, log


class Rec:
    def __init__(self, fail=None, where="handle_read_event"):
        self.fail = fail
        self.where = where
        self.calls = []

    def _event(self, name):
        self.calls.append(name)
        if self.fail is not None and name == self.where:
            raise self.fail

    def handle_read_event(self):
        self._event("handle_read_event")

    def handle_write_event(self):
        self._event("handle_write_event")

    def handle_expt_event(self):
        self._event("handle_expt_event")

    def handle_close(self):
        self.calls.append("handle_close")

    def handle_error(self):
        self.calls.append("handle_error")


P = select
for flags_names in (
    ["POLLIN"],
    ["POLLOUT"],
    ["POLLPRI"],
    ["POLLHUP"],
    ["POLLERR"],
    ["POLLNVAL"],
    ["POLLIN", "POLLOUT", "POLLPRI", "POLLHUP"],
    ["POLLIN", "POLLERR"],
    [],
):
    flags = 0
    for n in flags_names:
        flags |= getattr(P, n)
    r = Rec()
    asyncore.readwrite(r, flags)
    log("|".join(flags_names) or "0", "->", r.calls)

everything = P.POLLIN | P.POLLOUT | P.POLLPRI | P.POLLHUP
for fail in (
    OSError(errno.ECONNRESET, "reset"),
    OSError(errno.EPIPE, "pipe"),
    OSError(errno.EBADF, "bad fd"),
    OSError(errno.EACCES, "denied"),
    ValueError("value"),
    asyncore.ExitNow("exit now"),
    KeyboardInterrupt(),
    SystemExit(3),
):
    for where in ("handle_read_event", "handle_write_event", "handle_expt_event"):
        r = Rec(fail, where)
        try:
            asyncore.readwrite(r, everything)
            log(f"{exc(fail)} in {where} -> {r.calls}")
        except BaseException as e:
            log(f"{exc(fail)} in {where} -> {r.calls}, raised {exc(e)}")
