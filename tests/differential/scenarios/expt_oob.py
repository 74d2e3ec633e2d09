"""Out-of-band data (MSG_OOB on a loopback TCP pair) reaches handle_expt through
handle_expt_event, under select semantics (exceptional set) and poll semantics (POLLPRI);
normal data alongside goes to handle_read.
Issue: none (documented asyncore behaviour: handle_expt)."""

import asyncore
import socket

from _trace import log, tcp_pair


class Chan(asyncore.dispatcher):
    def handle_read(self):
        log("  handle_read", self.recv(100))

    def handle_expt(self):
        log("  handle_expt", self.socket.recv(1, socket.MSG_OOB))

    def writable(self):
        return False


for use_poll in (False, True):
    m = {}
    a, b = tcp_pair()
    c = Chan(a, m)
    b.send(b"!", socket.MSG_OOB)
    log(f"use_poll={use_poll}: OOB only")
    asyncore.loop(timeout=1, map=m, count=1, use_poll=use_poll)
    b.send(b"normal")
    b.send(b"?", socket.MSG_OOB)
    log(f"use_poll={use_poll}: normal data, then OOB")
    asyncore.loop(timeout=1, map=m, count=2, use_poll=use_poll)
    c.close()
    b.close()
