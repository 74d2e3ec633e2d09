"""A dispatcher_with_send with output queued (more than the peer's socket takes; the peer
does not read) raises in handle_read: the default handle_error calls handle_close, which in
the stdlib closes the channel at once (the queued output is dropped).
Issue: #8 close semantics (exception in a handler with output queued)."""

import asyncore

from _trace import is_closed, log, pair


class Chan(asyncore.dispatcher_with_send):
    def handle_read(self):
        self.recv(100)
        raise RuntimeError("handler failed")

    def handle_error(self):
        asyncore.dispatcher_with_send.handle_error(self)
        log("right after handle_error: closed", is_closed(self.socket), "in map", bool(m))


m = {}
a, b = pair()
c = Chan(a, m)
c.send(b"x" * (4 * 1024 * 1024))
log("queued:", len(c.out_buffer) > 0)
b.send(b"trigger")
asyncore.loop(timeout=0.01, map=m, count=1)
log("after the pass: closed", is_closed(c.socket), "in map", bool(m))
asyncore.loop(timeout=0.01, map=m, count=3)
log("after 3 more passes: closed", is_closed(c.socket), "in map", bool(m))
c.close()
b.close()
