"""dispatcher.send() to a peer that closed (EPIPE) and recv() after a reset (ECONNRESET):
both call handle_close and return 0 / b''; recv() at end of input calls handle_close and
returns b''; send() that would block returns 0.
Issue: none (documented asyncore behaviour: send/recv)."""

import asyncore

from _trace import exc, log, pair, reset, tcp_pair


class Chan(asyncore.dispatcher):
    def handle_close(self):
        log("  handle_close")
        self.close()


m = {}
a, b = pair()
c = Chan(a, m)
b.close()
log("send to a closed peer ->", c.send(b"x"), "in map", bool(m))

a, b = tcp_pair()
c = Chan(a, m)
reset(b)
try:
    log("recv after a reset ->", c.recv(10), "in map", bool(m))
except Exception as e:
    log("recv after a reset raised", exc(e))

a, b = pair()
c = Chan(a, m)
b.shutdown(1)
log("recv at end of input ->", c.recv(10), "in map", bool(m))
b.close()

a, b = pair()
c = Chan(a, m)
total = 0
for _ in range(1000):
    n = c.send(b"y" * 65536)
    if n == 0:
        break
    total += n
log("send when the buffer is full ->", n, "in map", bool(m))
c.close()
b.close()
