"""poll() (select semantics) when no channel is readable or writable: the stdlib sleeps for
the timeout instead of selecting, so invalid timeouts raise what time.sleep raises. Valid
small values just return. (-1 comes last: the engine was seen to wait for ever there.)
Issue: #8 timeouts (invalid values, nothing to watch)."""

import asyncore

from _trace import exc, log, pair


class Idle(asyncore.dispatcher):
    def readable(self):
        return False

    def writable(self):
        return False


a, b = pair()
m = {}
c = Idle(a, m)
for t in (0.01, 0, "x", float("nan"), -1):
    try:
        asyncore.loop(timeout=t, map=m, count=1)
        log(f"loop timeout={t!r}: returned")
    except Exception as e:
        log(f"loop timeout={t!r}: raised {exc(e)}")
    try:
        asyncore.poll(t, m)
        log(f"poll timeout={t!r}: returned")
    except Exception as e:
        log(f"poll timeout={t!r}: raised {exc(e)}")
c.close()
b.close()
