"""close_all(): every channel's close() called, the map cleared; with a channel whose close
raises OSError(EBADF) (ignored), another OSError, ValueError (raised unless ignore_all),
and ExitNow (always raised). Also close_all on the default socket_map.
Issue: none (documented asyncore API: close_all)."""

import asyncore
import errno

from _trace import exc, log


class Fake:
    def __init__(self, name, fail=None):
        self.name = name
        self.fail = fail

    def close(self):
        log("  close", self.name)
        if self.fail is not None:
            raise self.fail


for fail in (
    None,
    OSError(errno.EBADF, "bad"),
    OSError(errno.EPERM, "perm"),
    ValueError("v"),
    asyncore.ExitNow("x"),
    KeyboardInterrupt(),
):
    for ignore_all in (False, True):
        m = {1: Fake("one"), 2: Fake("two", fail), 3: Fake("three")}
        try:
            asyncore.close_all(map=m, ignore_all=ignore_all)
            log(f"{exc(fail) if fail else 'no failure'} ignore_all={ignore_all}: returned, map left {len(m)}")
        except BaseException as e:
            what = exc(fail) if fail else "no failure"
            log(f"{what} ignore_all={ignore_all}: raised {exc(e)}, map left {len(m)}")

asyncore.socket_map[7] = Fake("default-map entry")
asyncore.close_all()
log("default map empty:", not asyncore.socket_map)
