"""An asyncore.dispatcher_with_send subclass overrides handle_close (logs, then calls the base
class's); the peer
resets the TCP connection (SO_LINGER 0) while output is queued: handle_close must run
exactly once, as in the stdlib.
Issue: #8 close semantics (user handle_close on a reset with output queued)."""

import asyncore

from _trace import log, reset, tcp_pair


class Chan(asyncore.dispatcher_with_send):
    def handle_read(self):
        self.recv(100)

    def handle_close(self):
        log("user handle_close")
        asyncore.dispatcher_with_send.handle_close(self)


m = {}
a, b = tcp_pair()
c = Chan(a, m)
c.send(b"x" * (4 * 1024 * 1024))
log("queued:", len(c.out_buffer) > 0)
reset(b)
asyncore.loop(timeout=0.01, map=m, count=3)
log("after the reset: in map", bool(m))
c.close()
