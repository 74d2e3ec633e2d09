"""As tick_readable_closes_other, under select semantics (use_poll=False): the stdlib asks
every predicate first, so a channel closed by an earlier predicate of the same pass is
still in its select() lists, and select() fails with EBADF out of loop(); a channel closed
by a later one the same. What the engine does is compared.
Issue: #8 the per-pass tick (closing another channel, select semantics)."""

import asyncore

from _trace import Recorder, exc, log, pair

ev = Recorder()


class Ticker(asyncore.dispatcher):
    def __init__(self, sock, map, name):
        asyncore.dispatcher.__init__(self, sock, map=map)
        self.name = name
        self.ticks = 0
        self.victim = None

    def readable(self):
        self.ticks += 1
        ev(self.name, "readable", self.ticks)
        if self.victim is not None and self.ticks == 2:
            self.victim.close()
            ev(self.name, "closed", self.victim.name)
        return True

    def writable(self):
        return False

    def handle_read(self):
        ev(self.name, "handle_read", self.recv(100))


m = {}
a, pa = pair()
b, pb = pair()
A = Ticker(a, m, "A")
B = Ticker(b, m, "B")
A.victim = B
pb.send(b"for B")
for i in range(3):
    try:
        asyncore.loop(timeout=0.01, map=m, count=1)
    except Exception as e:
        log("loop raised", exc(e))
    ev.flush(f"pass {i}: map {sorted(c.name for c in m.values())}")
asyncore.close_all(map=m)
pa.close()
pb.close()
