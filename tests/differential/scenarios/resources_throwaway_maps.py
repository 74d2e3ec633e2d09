"""100 throwaway plain-dict maps, each holding one channel looped once and then closed; the
maps are dropped (there is nothing else to close in asyncore). Descriptors open afterwards,
compared with before: the stdlib leaves none besides the sockets the scenario holds.
Issue: #8 resources (a map dropped without closing)."""

import asyncore
import gc

from _trace import log, open_fds, pair


class Chan(asyncore.dispatcher):
    def handle_read(self):
        self.recv(100)

    def writable(self):
        return False


before = open_fds()
for _ in range(100):
    m = {}
    a, b = pair()
    c = Chan(a, m)
    b.send(b"x")
    asyncore.loop(timeout=0.01, map=m, count=1)
    c.close()
    b.close()
    del m, c
gc.collect()
log("descriptors left open:", open_fds() - before)
