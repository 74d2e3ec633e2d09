"""A per-pass tick (overridden readable()) on channel A that closes channel B on its 2nd
call; B's peer has written. Poll semantics (use_poll=True), where the stdlib just skips the
closed channel. Per pass: predicate calls and reads of each channel, and what loop() did.
Issue: #8 the per-pass tick (closing another channel)."""

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

    def handle_close(self):
        ev(self.name, "handle_close")
        self.close()


m = {}
a, pa = pair()
b, pb = pair()
A = Ticker(a, m, "A")
B = Ticker(b, m, "B")
A.victim = B
pb.send(b"for B")
for i in range(3):
    try:
        asyncore.loop(timeout=0.01, map=m, count=1, use_poll=True)
    except Exception as e:
        log("loop raised", exc(e))
    ev.flush(f"pass {i}: map {sorted(c.name for c in m.values())}")
asyncore.close_all(map=m)
pa.close()
pb.close()
