"""Out-of-band data with the default handle_expt (logs 'unhandled incoming priority event'
as a warning: shown here with ignore_log_types emptied), under both semantics.
Issue: none (documented asyncore behaviour)."""

import asyncore
import socket

from _trace import log, tcp_pair


class Chan(asyncore.dispatcher):
    ignore_log_types = frozenset()

    def handle_read(self):
        log("  handle_read", self.recv(100))

    def writable(self):
        return False


for use_poll in (False, True):
    m = {}
    a, b = tcp_pair()
    c = Chan(a, m)
    b.send(b"!", socket.MSG_OOB)
    log(f"use_poll={use_poll}")
    asyncore.loop(timeout=1, map=m, count=1, use_poll=use_poll)
    c.close()
    b.close()
