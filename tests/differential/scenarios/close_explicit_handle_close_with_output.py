"""handle_close() called explicitly (by application code, say on a protocol error) on a
dispatcher_with_send with output queued: the stdlib's default closes at once.
Issue: #8 close semantics (explicit handle_close with output queued)."""

import asyncore

from _trace import is_closed, log, pair


class Chan(asyncore.dispatcher_with_send):
    def handle_read(self):
        self.recv(100)


m = {}
a, b = pair()
c = Chan(a, m)
c.send(b"x" * (4 * 1024 * 1024))
log("queued:", len(c.out_buffer) > 0)
c.handle_close()
log("right after handle_close: closed", is_closed(c.socket), "in map", bool(m), "connected", c.connected)
asyncore.loop(timeout=0.01, map=m, count=3)
log("after 3 passes: closed", is_closed(c.socket), "in map", bool(m))
c.close()
b.close()
