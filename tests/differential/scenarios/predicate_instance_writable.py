"""writable() replaced on a dispatcher_with_send instance after the first loop
(d.writable = lambda: True with nothing queued), then removed: count write events.
Issue: #8 predicates replaced late (instance writable)."""

import asyncore

from _trace import log, pair

writes = []


class Chan(asyncore.dispatcher_with_send):
    def handle_write(self):
        writes.append(1)
        asyncore.dispatcher_with_send.handle_write(self)

    def handle_read(self):
        log("handle_read", self.recv(10))


m = {}
a, b = pair()
c = Chan(a, m)
asyncore.loop(timeout=0.01, map=m, count=2)
log("writes:", len(writes))
c.writable = lambda: True
asyncore.loop(timeout=0.01, map=m, count=3)
log("instance writable True; writes:", len(writes))
del c.writable
asyncore.loop(timeout=0.01, map=m, count=3)
log("instance attribute deleted; writes:", len(writes))
c.close()
b.close()
