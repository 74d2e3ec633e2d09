"""class E(dispatcher_with_send): out_buffer = b'' -- a class attribute, and old code that
queues by 'self.out_buffer += data' and lets handle_write flush it. Count the write events
over the passes and what the peer receives.
Issue: #8 state shadowed by a class attribute (out_buffer)."""

import asyncore

from _trace import drain, log, pair

writes = 0


class E(asyncore.dispatcher_with_send):
    out_buffer = b""

    def handle_read(self):
        data = self.recv(100)
        log("handle_read", data)
        self.out_buffer += data.upper()

    def handle_write(self):
        global writes
        writes += 1
        asyncore.dispatcher_with_send.handle_write(self)


m = {}
a, b = pair()
e = E(a, m)
log("type of out_buffer:", type(e.out_buffer).__name__, "writable:", bool(e.writable()))
b.send(b"abc")
asyncore.loop(timeout=0.01, map=m, count=5)
log("peer got", drain(b), "write events:", writes, "left:", bytes(e.out_buffer))
e.close()
b.close()
