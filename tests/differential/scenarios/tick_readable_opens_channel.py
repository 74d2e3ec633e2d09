"""A per-pass tick (overridden readable()) that opens a new channel on its 2nd call; the new
channel's peer has written before. Per pass: how many times each predicate ran, which
channel read. In the stdlib the new channel is first asked and polled on the pass after the
one that created it.
Issue: #8 the per-pass tick (opening a channel)."""

import asyncore

from _trace import Recorder, pair

ev = Recorder()
peers = []


class Ticker(asyncore.dispatcher):
    def __init__(self, sock, map, name):
        asyncore.dispatcher.__init__(self, sock, map=map)
        self.name = name
        self.ticks = 0

    def readable(self):
        self.ticks += 1
        ev(self.name, "readable", self.ticks)
        if self.name == "A" and self.ticks == 2:
            a2, b2 = pair()
            b2.send(b"early data")
            peers.append(b2)
            Ticker(a2, self._map, "B")
            ev(self.name, "opened B")
        return True

    def writable(self):
        return False

    def handle_read(self):
        ev(self.name, "handle_read", self.recv(100))


for use_poll in (False, True):
    m = {}
    a, b = pair()
    Ticker(a, m, "A")
    for i in range(4):
        asyncore.loop(timeout=0.01, map=m, count=1, use_poll=use_poll)
        ev.flush(f"use_poll={use_poll} pass {i}")
    asyncore.close_all(map=m)
    b.close()
    for p in peers:
        p.close()
