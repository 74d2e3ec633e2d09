"""Two channels with input pending in one plain-dict map; whichever handle_read runs first
deletes the other from the map by hand (del m[fd], not close()): the other gets no event in
that pass (read included) nor later. Then the same with the default socket_map.
Issue: #8 the map by hand (del m[fd] during a pass)."""

import asyncore

from _trace import log, pair

reads = []


class Chan(asyncore.dispatcher):
    def __init__(self, sock, map, name):
        asyncore.dispatcher.__init__(self, sock, map=map)
        self.name = name
        self.other = None

    def handle_read(self):
        reads.append(self.name)
        self.recv(100)
        if self.other is not None and self.other._fileno in self._map:
            del self._map[self.other._fileno]

    def handle_write(self):
        pass


for label, m in (("plain dict", {}), ("socket_map", asyncore.socket_map)):
    reads.clear()
    a, pa = pair()
    b, pb = pair()
    A = Chan(a, m, "A")
    B = Chan(b, m, "B")
    A.other, B.other = B, A
    pa.send(b"1")
    pb.send(b"2")
    asyncore.loop(timeout=0.01, map=m, count=1)
    log(f"{label}: reads in the pass: {len(reads)}, left in map: {len(m)}")
    pa.send(b"3")
    pb.send(b"4")
    asyncore.loop(timeout=0.01, map=m, count=2)
    log(
        f"{label}: reads after 2 more passes: {len(reads)}; the survivor read every time:",
        len(set(reads)) == 1,
    )
    for x in (A, B, pa, pb):
        x.close()
    m.clear()
