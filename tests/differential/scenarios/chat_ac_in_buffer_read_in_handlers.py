"""ac_in_buffer read inside collect_incoming_data and found_terminator, for a bytes
terminator (found, prefix held at the end, none), an int terminator and None: the stdlib
slices the buffer after each call, so inside collect_incoming_data it still holds the data
being collected.
Issue: #8 async_chat details (ac_in_buffer read inside the hooks)."""

import asynchat
import asyncore

from _trace import log, pair


class Chat(asynchat.async_chat):
    def __init__(self, sock, map):
        asynchat.async_chat.__init__(self, sock, map=map)
        self.set_terminator(b"\r\n")
        self.step = 0

    def collect_incoming_data(self, data):
        log("  collect", data, "ac_in_buffer", self.ac_in_buffer)

    def found_terminator(self):
        self.step += 1
        log("  found", self.step, "ac_in_buffer", self.ac_in_buffer, "terminator", self.terminator)
        if self.step == 2:
            self.set_terminator(4)
        elif self.step == 3:
            self.set_terminator(None)


m = {}
a, b = pair()
c = Chat(a, m)
for chunk in (b"one\r\ntwo\r\nabcdef\r", b"\nxy", b"z"):
    log("peer sends", chunk)
    b.send(chunk)
    asyncore.loop(timeout=1, map=m, count=1)
c.close()
b.close()
