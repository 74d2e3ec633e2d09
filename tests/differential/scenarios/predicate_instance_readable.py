"""readable() replaced on the instance (d.readable = lambda: False), before the first loop
and after it, then the instance attribute deleted: each pass must obey the predicate in
force at that pass, as the stdlib asks it every pass.
Issue: #8 predicates replaced late (instance attribute)."""

import asyncore

from _trace import log, pair


class Chan(asyncore.dispatcher):
    def handle_read(self):
        log("handle_read", self.recv(100))

    def writable(self):
        return False


m = {}
a, b = pair()
c = Chan(a, m)
c.readable = lambda: False
b.send(b"1")
asyncore.loop(timeout=0.01, map=m, count=2)
log("-- readable on instance: True")
c.readable = lambda: True
asyncore.loop(timeout=0.01, map=m, count=1)
log("-- readable on instance: False (after a loop)")
c.readable = lambda: False
b.send(b"2")
asyncore.loop(timeout=0.01, map=m, count=2)
log("-- instance attribute deleted")
del c.readable
asyncore.loop(timeout=0.01, map=m, count=1)
c.close()
b.close()
