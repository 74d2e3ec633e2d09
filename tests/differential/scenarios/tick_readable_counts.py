"""An overridden readable() used as a per-pass tick (waitress style): it is called exactly
once per pass per channel, with and without input, under select and poll semantics; also
writable() counted.
Issue: #8 the per-pass tick."""

import asyncore

from _trace import log, pair


class Chan(asyncore.dispatcher):
    def __init__(self, sock, map):
        asyncore.dispatcher.__init__(self, sock, map=map)
        self.ticks = 0
        self.wticks = 0

    def readable(self):
        self.ticks += 1
        return True

    def writable(self):
        self.wticks += 1
        return False

    def handle_read(self):
        log("handle_read", self.recv(100), "at tick", self.ticks)


for use_poll in (False, True):
    m = {}
    a, b = pair()
    c = Chan(a, m)
    asyncore.loop(timeout=0.01, map=m, count=3, use_poll=use_poll)
    log(f"use_poll={use_poll}: after 3 idle passes: readable", c.ticks, "writable", c.wticks)
    b.send(b"x")
    asyncore.loop(timeout=0.01, map=m, count=2, use_poll=use_poll)
    log(f"use_poll={use_poll}: after 2 more passes: readable", c.ticks, "writable", c.wticks)
    c.close()
    b.close()
