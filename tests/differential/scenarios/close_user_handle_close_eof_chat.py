"""An asynchat.async_chat subclass overrides handle_close (logs, then calls the base class's); the peer
ends its input (shutdown of its sending side) while output is queued and unread, later
closes. handle_close must run exactly once, as in the stdlib. (Delivering the queued output
before closing is a documented difference, docs/compat.md; this trace shows only handler
calls and the map.)
Issue: #8 close semantics (user handle_close at end of input with output queued)."""

import asynchat
import asyncore

from _trace import log, pair


class Chan(asynchat.async_chat):
    def __init__(self, sock, map):
        asynchat.async_chat.__init__(self, sock, map=map)
        self.set_terminator(b"\n")

    def collect_incoming_data(self, data):
        pass

    def found_terminator(self):
        pass

    def handle_close(self):
        log("user handle_close")
        asynchat.async_chat.handle_close(self)


m = {}
a, b = pair()
c = Chan(a, m)
c.push(b"x" * (4 * 1024 * 1024))
log("queued:", len(c.producer_fifo) > 0)
b.shutdown(1)
asyncore.loop(timeout=0.01, map=m, count=3)
log("after end of input")  # staying in the map to flush is documented
b.close()
asyncore.loop(timeout=0.01, map=m, count=3)
log("after the peer closed: in map", bool(m))
c.close()
