"""An async_chat subclass keeps its own self._framer (the name of its framing protocol,
set before async_chat.__init__ and after) and frames lines.
Issue: #8 name collisions (private-looking names: _framer)."""

import asynchat
import asyncore

from _trace import exc, log, pair


class Chat(asynchat.async_chat):
    def __init__(self, sock, map):
        self._framer = "line framer v1"
        asynchat.async_chat.__init__(self, sock, map=map)
        self._framer = "line framer v2"
        self.set_terminator(b"\n")
        self.buf = []

    def collect_incoming_data(self, data):
        self.buf.append(data)

    def found_terminator(self):
        log("line", b"".join(self.buf), "framer", self._framer)
        self.buf = []


m = {}
a, b = pair()
try:
    c = Chat(a, m)
    b.send(b"one\ntwo\nthr")
    asyncore.loop(timeout=1, map=m, count=1)
    b.send(b"ee\n")
    asyncore.loop(timeout=1, map=m, count=1)
    log("ac_in_buffer", c.ac_in_buffer)
    c.close()
except Exception as e:
    log("raised", exc(e))
b.close()
