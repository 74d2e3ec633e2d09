"""A subclass uses self.reading_paused as its own flag (and readable() honours it, as a
flow-controlled proxy written for the stdlib would).
Issue: #8 name collisions (self.reading_paused)."""

import asyncore

from _trace import exc, log, pair


class Chan(asyncore.dispatcher):
    def __init__(self, sock, map):
        asyncore.dispatcher.__init__(self, sock, map=map)
        self.reading_paused = False

    def readable(self):
        return not self.reading_paused

    def writable(self):
        return False

    def handle_read(self):
        log("handle_read", self.recv(100))
        self.reading_paused = True


m = {}
a, b = pair()
try:
    c = Chan(a, m)
except Exception as e:
    log("constructing raised", exc(e))
    a.close()
else:
    b.send(b"one")
    asyncore.loop(timeout=1, map=m, count=1)
    b.send(b"two")
    asyncore.loop(timeout=0.01, map=m, count=1)
    log("paused, nothing read")
    c.reading_paused = False
    asyncore.loop(timeout=1, map=m, count=1)
    c.close()
b.close()
