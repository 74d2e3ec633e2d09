"""Predicates patched on the class after the first loop() (Chan.readable = ..., then
Chan.writable = ...): later passes obey the new class predicates.
Issue: #8 predicates replaced late (class patched after the first loop)."""

import asyncore

from _trace import log, pair

writes = 0


class Chan(asyncore.dispatcher):
    def handle_read(self):
        log("handle_read", self.recv(100))

    def handle_write(self):
        global writes
        writes += 1


m = {}
a, b = pair()
c = Chan(a, m)
b.send(b"1")
asyncore.loop(timeout=0.01, map=m, count=1)
log("writes:", writes)
Chan.readable = lambda self: False
b.send(b"2")
asyncore.loop(timeout=0.01, map=m, count=2)
log("-- class readable False; writes:", writes)
Chan.writable = lambda self: False
asyncore.loop(timeout=0.01, map=m, count=3)
log("-- class writable False; writes:", writes)
Chan.readable = lambda self: True
asyncore.loop(timeout=0.01, map=m, count=1)
log("-- class readable True; writes:", writes)
c.close()
b.close()
