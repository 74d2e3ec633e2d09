"""Huge timeouts with a channel that is ready (input pending): 3e6 s and 30 days, under
select and poll semantics; the pass must return at once (or raise as the stdlib does).
Issue: #8 timeouts (huge values)."""

import asyncore

from _trace import exc, log, pair


class Chan(asyncore.dispatcher):
    def handle_read(self):
        log("  handle_read", self.recv(1))

    def writable(self):
        return False


a, b = pair()
m = {}
c = Chan(a, m)
b.send(b"abcdefgh")
for use_poll in (False, True):
    for t in (3e6, 30 * 24 * 3600, 2**31, 1e12):
        try:
            asyncore.loop(timeout=t, map=m, count=1, use_poll=use_poll)
            log(f"use_poll={use_poll} timeout={t!r}: returned")
        except Exception as e:
            log(f"use_poll={use_poll} timeout={t!r}: raised {exc(e)}")
c.close()
b.close()
