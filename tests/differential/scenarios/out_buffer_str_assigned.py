"""Python 2-era code assigns a str to out_buffer: ``self.out_buffer = ''`` in __init__ (the
stdlib accepted it; a later send() then fails on ''+b'...') and a non-empty str (it fails
later, inside handle_write, reaching handle_error)."""

import asyncore
import sys

from _trace import attempt, exc, log, pair


class Py2(asyncore.dispatcher_with_send):
    def __init__(self, sock, map, initial):
        asyncore.dispatcher_with_send.__init__(self, sock, map)
        self.out_buffer = initial

    def handle_read(self):
        self.recv(100)

    def handle_error(self):
        log("handle_error:", exc(sys.exc_info()[1]))
        self.close()


for initial in ("", "queued text"):
    m = {}
    a, b = pair()
    c = attempt(f"init with {initial!r}", Py2, a, m, initial)
    if c is None:
        b.close()
        continue
    log("out_buffer", repr(c.out_buffer), "writable", bool(c.writable()))
    if not initial:
        attempt("send bytes", c.send, b"data")
    asyncore.loop(timeout=0.01, map=m, count=2)
    log("in map", bool(m))
    if m:
        c.close()
    b.close()
