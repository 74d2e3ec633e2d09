"""ac_in_buffer assigned inside collect_incoming_data (a filter that rewrites the rest of
the input): the stdlib's framing step then slices the new value with the old index. What
each implementation makes of it, step by step.
Issue: #8 async_chat details (assigning ac_in_buffer inside collect_incoming_data)."""

import asynchat
import asyncore

from _trace import log, pair


class Chat(asynchat.async_chat):
    def __init__(self, sock, map):
        asynchat.async_chat.__init__(self, sock, map=map)
        self.set_terminator(b"\n")
        self.n = 0

    def collect_incoming_data(self, data):
        self.n += 1
        log("collect", data)
        if self.n == 1:
            self.ac_in_buffer = b"XYZ\nrest\n"

    def found_terminator(self):
        log("found, ac_in_buffer", self.ac_in_buffer)


m = {}
a, b = pair()
c = Chat(a, m)
b.send(b"abc\ndef\nghi\n")
asyncore.loop(timeout=1, map=m, count=1)
log("ac_in_buffer at the end", c.ac_in_buffer)
c.close()
b.close()
