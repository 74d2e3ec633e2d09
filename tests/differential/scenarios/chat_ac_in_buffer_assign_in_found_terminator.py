"""ac_in_buffer assigned inside found_terminator: replaced by other bytes (which the stdlib
then frames in the same read), by b'' (the rest of the read dropped), and left alone.
Issue: #8 async_chat details (assigning ac_in_buffer inside found_terminator)."""

import asynchat
import asyncore

from _trace import log, pair


class Chat(asynchat.async_chat):
    def __init__(self, sock, map):
        asynchat.async_chat.__init__(self, sock, map=map)
        self.set_terminator(b"\n")
        self.buf = b""

    def collect_incoming_data(self, data):
        self.buf += data

    def found_terminator(self):
        msg, self.buf = self.buf, b""
        log("message", msg, "ac_in_buffer", self.ac_in_buffer)
        if msg == b"replace":
            self.ac_in_buffer = b"injected\nalso\n"
        elif msg == b"drop":
            self.ac_in_buffer = b""


m = {}
a, b = pair()
c = Chat(a, m)
b.send(b"first\nreplace\nlost\n")
asyncore.loop(timeout=1, map=m, count=1)
b.send(b"second\ndrop\nlost too\npartial")
asyncore.loop(timeout=1, map=m, count=1)
b.send(b"third\n")
asyncore.loop(timeout=1, map=m, count=1)
log("ac_in_buffer at the end", c.ac_in_buffer)
c.close()
b.close()
