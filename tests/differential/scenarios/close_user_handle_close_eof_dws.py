"""An asyncore.dispatcher_with_send subclass overrides handle_close (logs, then calls the base
class's); the peer
ends its input (shutdown of its sending side) while output is queued and unread, later
closes. handle_close must run exactly once, as in the stdlib. (Delivering the queued output
before closing is a documented difference, docs/compat.md; this trace shows only handler
calls and the map.)
Issue: #8 close semantics (user handle_close at end of input with output queued)."""

import asyncore

from _trace import log, pair


class Chan(asyncore.dispatcher_with_send):
    def handle_read(self):
        self.recv(100)

    def handle_close(self):
        log("user handle_close")
        asyncore.dispatcher_with_send.handle_close(self)


m = {}
a, b = pair()
c = Chan(a, m)
c.send(b"x" * (4 * 1024 * 1024))
log("queued:", len(c.out_buffer) > 0)
b.shutdown(1)
asyncore.loop(timeout=0.01, map=m, count=3)
log("after end of input")  # staying in the map to flush is documented
b.close()
asyncore.loop(timeout=0.01, map=m, count=3)
log("after the peer closed: in map", bool(m))
c.close()
