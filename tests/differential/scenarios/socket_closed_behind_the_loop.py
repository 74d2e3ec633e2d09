"""The channel's socket closed directly (not through close()) while it stays in the map,
then passes for up to 1.5 s: the stdlib's select() fails with EBADF out of loop() at once
(poll semantics: POLLNVAL, so handle_close). The engine is documented to close the channel
(handle_close) with a warning on the asyncore_ng logger within a second (docs/compat.md,
'a descriptor closed behind the loop's back'); documented.py maps the stdlib's EBADF to
that.
Issue: #14 (a socket closed behind the loop)."""

import asyncore
import time

from _trace import exc, log, pair


class Chan(asyncore.dispatcher):
    def handle_read(self):
        log("handle_read", self.recv(100))

    def writable(self):
        return False

    def handle_close(self):
        log("handle_close")
        self.close()


for use_poll in (False, True):
    m = {}
    a, b = pair()
    c = Chan(a, m)
    asyncore.loop(timeout=0.01, map=m, count=1, use_poll=use_poll)
    c.socket.close()
    end = time.monotonic() + 1.5
    try:
        while m and time.monotonic() < end:
            asyncore.loop(timeout=0.05, map=m, count=1, use_poll=use_poll)
        log(f"use_poll={use_poll}: loop returned; in map", bool(m))
    except Exception as e:
        log(f"use_poll={use_poll}: loop raised", exc(e))
    m.clear()
    b.close()
