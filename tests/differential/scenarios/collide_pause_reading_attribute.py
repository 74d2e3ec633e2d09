"""A subclass of dispatcher_with_send keeps a plain attribute named pause_reading (a bool of
its own) and a resume_reading list; the peer ends its input while a reply is queued: the
default handle_close closes, as in the stdlib, and never touches those attributes.
Issue: #8 name collisions (self.pause_reading = ...)."""

import asyncore

from _trace import exc, log, pair


class Chan(asyncore.dispatcher_with_send):
    def __init__(self, sock, map):
        asyncore.dispatcher_with_send.__init__(self, sock, map=map)
        self.pause_reading = False
        self.resume_reading = []

    def handle_read(self):
        log("handle_read", self.recv(100))


m = {}
a, b = pair()
try:
    c = Chan(a, m)
except Exception as e:
    log("constructing raised", exc(e))
else:
    c.out_buffer = b"queued reply"
    b.shutdown(1)
    try:
        asyncore.loop(timeout=1, map=m, count=1)
    except Exception as e:
        log("loop raised", exc(e))
    log(
        "after one pass: in map",
        bool(m),
        "pause_reading",
        c.pause_reading,
        "resume_reading",
        c.resume_reading,
    )
    c.close()
b.close()
