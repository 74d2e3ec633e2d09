"""class W(dispatcher_with_send): connected = False -- a class attribute shadowing the
library's state. The instance is connected (a socketpair), nothing is queued: count
handle_write calls over 10 passes (stdlib: writable() is false, no write event).
Issue: #8 state shadowed by a class attribute (connected)."""

import asyncore

from _trace import log, pair

writes = 0


class W(asyncore.dispatcher_with_send):
    connected = False

    def handle_write(self):
        global writes
        writes += 1
        asyncore.dispatcher_with_send.handle_write(self)

    def handle_read(self):
        log("handle_read", self.recv(100))


m = {}
a, b = pair()
w = W(a, m)
log("connected:", w.connected, "writable:", bool(w.writable()))
asyncore.loop(timeout=0.01, map=m, count=10)
log("handle_write calls:", writes)
b.send(b"x")
asyncore.loop(timeout=0.01, map=m, count=3)
log("handle_write calls:", writes)
w.close()
b.close()
