"""loop() with invalid timeouts (-1, 'x', nan, a list) and a channel with input pending,
under select and poll semantics: what is raised (type and message), or what runs. (The
stdlib's poll2 turns -1 into -1000 ms, an infinite wait: safe here only because input is
pending.)
Issue: #8 timeouts (invalid values)."""

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
b.send(b"abcdefghijklmnop")
for use_poll in (False, True):
    for t in (-1, -0.5, "x", float("nan"), [1], float("inf"), float("-inf")):
        try:
            asyncore.loop(timeout=t, map=m, count=1, use_poll=use_poll)
            log(f"use_poll={use_poll} timeout={t!r}: returned")
        except Exception as e:
            log(f"use_poll={use_poll} timeout={t!r}: raised {exc(e)}")
c.close()
b.close()
