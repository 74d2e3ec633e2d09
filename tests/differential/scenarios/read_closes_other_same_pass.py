"""Two channels with input pending; whichever handle_read runs first closes the other with
close(): the closed one gets no event in that pass (nor any later); only one read happens.
Under select and poll semantics.
Issue: none (documented asyncore behaviour: closing during dispatch)."""

import asyncore

from _trace import log, pair

reads = []


class Chan(asyncore.dispatcher):
    other = None

    def handle_read(self):
        reads.append(self)
        self.recv(10)
        if self.other is not None and self.other.socket.fileno() != -1:
            self.other.close()

    def handle_write(self):
        pass

    def handle_close(self):
        log("handle_close (should not run)")
        self.close()


for use_poll in (False, True):
    reads.clear()
    m = {}
    a, pa = pair()
    b, pb = pair()
    A, B = Chan(a, m), Chan(b, m)
    A.other, B.other = B, A
    pa.send(b"1")
    pb.send(b"2")
    asyncore.loop(timeout=0.01, map=m, count=1, use_poll=use_poll)
    log(f"use_poll={use_poll}: reads {len(reads)}, left in map {len(m)}")
    pa.send(b"3")
    pb.send(b"4")
    asyncore.loop(timeout=0.01, map=m, count=2, use_poll=use_poll)
    log(f"use_poll={use_poll}: reads {len(reads)} all by the survivor {len(set(reads)) == 1}")
    asyncore.close_all(map=m)
    pa.close()
    pb.close()
