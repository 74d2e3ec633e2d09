"""Hang-up handling: the peer closes its end of a socketpair (with and without unread data
left for us), under poll semantics (POLLIN|POLLHUP: handle_read, then handle_close again
from readwrite) and select semantics (readable, recv returns b''). Counts handle_close
calls.
Issue: none (documented asyncore behaviour: poll semantics, hang-ups)."""

import asyncore

from _trace import log, pair


class Chan(asyncore.dispatcher):
    def handle_read(self):
        log("  handle_read", self.recv(100))

    def writable(self):
        return False

    def handle_close(self):
        log("  handle_close")
        self.close()


for use_poll in (False, True):
    for data in (b"", b"last words"):
        m = {}
        a, b = pair()
        c = Chan(a, m)
        if data:
            b.send(data)
        b.close()
        log(f"use_poll={use_poll} data={data!r}")
        asyncore.loop(timeout=1, map=m, count=3, use_poll=use_poll)
        log("  in map", bool(m))
        c.close()
