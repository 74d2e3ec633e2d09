"""One channel that is readable (data and out-of-band data pending) and writable: the order
of its handlers within a pass under select semantics (read, write, expt) and poll semantics
(readwrite: read, write, expt), and the flags readwrite() gets.
Issue: none (documented asyncore behaviour: use_poll)."""

import asyncore
import socket

from _trace import log, tcp_pair


class Chan(asyncore.dispatcher):
    def handle_read(self):
        log("  handle_read", self.recv(100))

    def handle_write(self):
        log("  handle_write")

    def handle_expt(self):
        log("  handle_expt", self.socket.recv(1, socket.MSG_OOB))


for use_poll in (False, True):
    m = {}
    a, b = tcp_pair()
    c = Chan(a, m)
    b.send(b"data")
    b.send(b"!", socket.MSG_OOB)
    log(f"use_poll={use_poll}")
    asyncore.loop(timeout=1, map=m, count=1, use_poll=use_poll)
    c.close()
    b.close()
