"""poll(timeout=None) and poll2(timeout=None) (block until something is ready) with a peer
that has written: they return after dispatching. loop(timeout=None) the same.
Issue: #8 timeouts (None)."""

import asyncore

from _trace import log, pair


class Chan(asyncore.dispatcher):
    def handle_read(self):
        log("handle_read", self.recv(1))

    def writable(self):
        return False


a, b = pair()
m = {}
c = Chan(a, m)
b.send(b"abcd")
log("poll ->", asyncore.poll(None, m))
log("poll2 ->", asyncore.poll2(None, m))
log("poll3 ->", asyncore.poll3(None, m))
log("loop ->", asyncore.loop(timeout=None, map=m, count=1))
c.close()
b.close()
