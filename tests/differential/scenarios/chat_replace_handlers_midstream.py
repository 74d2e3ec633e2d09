"""collect_incoming_data and found_terminator replaced on the instance from inside
found_terminator, in the middle of one read holding several messages: each later step
calls the replacement.
Issue: #8 predicates replaced late (async_chat hooks replaced mid-stream)."""

import asynchat
import asyncore

from _trace import log, pair


class Chat(asynchat.async_chat):
    def __init__(self, sock, map):
        asynchat.async_chat.__init__(self, sock, map=map)
        self.set_terminator(b"\n")
        self.n = 0

    def collect_incoming_data(self, data):
        log("collect", data)

    def found_terminator(self):
        self.n += 1
        log("found", self.n)
        if self.n == 2:
            self.collect_incoming_data = lambda data: log("replacement collect", data)
            self.found_terminator = self.second

    def second(self):
        log("replacement found")
        del self.collect_incoming_data
        del self.found_terminator


m = {}
a, b = pair()
c = Chat(a, m)
b.send(b"a\nb\nc\nd\ne\n")
asyncore.loop(timeout=1, map=m, count=1)
c.close()
b.close()
