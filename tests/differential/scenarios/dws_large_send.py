"""dispatcher_with_send.send() of 1 MiB on a socketpair whose peer does not read yet: what
is left in out_buffer right after send() (the stdlib hands the socket 65536 bytes, keeping
the rest; docs/compat.md: with nothing queued we offer the socket all of it), then the peer
reads everything over the passes, in order.
Issue: none (documented difference: dispatcher_with_send output)."""

import asyncore

from _trace import drain, log, pair


class Chan(asyncore.dispatcher_with_send):
    def handle_read(self):
        pass


m = {}
a, b = pair()
c = Chan(a, m)
payload = bytes(range(256)) * 4096
c.send(payload)
took = len(payload) - len(c.out_buffer)
log(
    "send() handed the socket:",
    "exactly 65536 bytes"
    if took == 65536
    else "more than 65536 bytes"
    if took > 65536
    else "less than 65536 bytes",
)
log("out_buffer is the unsent tail:", bytes(c.out_buffer) == payload[len(payload) - len(c.out_buffer) :])
got = b""
for _ in range(200):
    got += drain(b)
    asyncore.loop(timeout=0.01, map=m, count=1)
    if not c.out_buffer:
        break
got += drain(b)
log("peer got it all, in order:", got == payload, "queued:", len(c.out_buffer))
c.close()
b.close()
