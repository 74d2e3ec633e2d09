"""An int terminator counts down as data arrives in pieces (ac_in_buffer_size = 3): the
terminator attribute after each read, collect calls, found_terminator at zero; then a new
count set inside found_terminator, and 0 (no-op terminator: everything is collected).
Issue: #8 async_chat details (int terminator countdown)."""

import asynchat
import asyncore

from _trace import log, pair


class Chat(asynchat.async_chat):
    ac_in_buffer_size = 3

    def __init__(self, sock, map):
        asynchat.async_chat.__init__(self, sock, map=map)
        self.set_terminator(7)
        self.n = 0

    def collect_incoming_data(self, data):
        log("  collect", data)

    def found_terminator(self):
        self.n += 1
        log("  found", self.n)
        self.set_terminator(4 if self.n == 1 else 0)


m = {}
a, b = pair()
c = Chat(a, m)
b.send(b"abcdefghijklmnopqrstu")
for i in range(8):
    asyncore.loop(timeout=0.01, map=m, count=1)
    log("after read", i, "terminator", c.get_terminator(), "ac_in_buffer", c.ac_in_buffer)
c.close()
b.close()
