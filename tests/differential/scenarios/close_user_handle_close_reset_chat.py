"""An asynchat.async_chat subclass overrides handle_close (logs, then calls the base class's); the peer
resets the TCP connection (SO_LINGER 0) while output is queued: handle_close must run
exactly once, as in the stdlib.
Issue: #8 close semantics (user handle_close on a reset with output queued)."""

import asynchat
import asyncore

from _trace import log, reset, tcp_pair


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
a, b = tcp_pair()
c = Chan(a, m)
c.push(b"x" * (4 * 1024 * 1024))
log("queued:", len(c.producer_fifo) > 0)
reset(b)
asyncore.loop(timeout=0.01, map=m, count=3)
log("after the reset: in map", bool(m))
c.close()
