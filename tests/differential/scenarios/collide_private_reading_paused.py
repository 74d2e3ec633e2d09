"""A subclass uses self._reading_paused as its own flag, set to True though it keeps
readable() as the stdlib's (always True): reading must go on.
Issue: #8 name collisions (private-looking names: _reading_paused)."""

import asyncore

from _trace import log, pair


class Chan(asyncore.dispatcher):
    def __init__(self, sock, map):
        asyncore.dispatcher.__init__(self, sock, map=map)
        self._reading_paused = True  # "the user paused the UI", say

    def handle_read(self):
        log("handle_read", self.recv(100))

    def handle_write(self):
        pass


m = {}
a, b = pair()
c = Chan(a, m)
b.send(b"data")
asyncore.loop(timeout=0.01, map=m, count=2)
log("done")
c.close()
b.close()
