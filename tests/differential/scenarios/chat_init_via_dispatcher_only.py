"""A class derived from async_chat but initialised through asyncore.dispatcher.__init__
only, setting its own ac_in_buffer, incoming, producer_fifo (a deque) and terminator, as old
code did: it must frame input and push output without failing on a missing private
attribute.
Issue: #8 async_chat details (initialised through dispatcher.__init__ only)."""

import asynchat
import asyncore
from collections import deque

from _trace import drain, exc, log, pair


class Old(asynchat.async_chat):
    def __init__(self, sock, map):
        self.ac_in_buffer = b""
        self.incoming = []
        self.producer_fifo = deque()
        asyncore.dispatcher.__init__(self, sock, map=map)
        self.set_terminator(b"\n")

    def collect_incoming_data(self, data):
        self.incoming.append(data)

    def found_terminator(self):
        line = b"".join(self.incoming)
        self.incoming = []
        log("line", line)
        self.push(b"echo " + line + b"\n")


m = {}
a, b = pair()
try:
    c = Old(a, m)
    b.send(b"hello\nworld\n")
    asyncore.loop(timeout=1, map=m, count=2)
    log("peer got", drain(b))
    c.close()
except Exception as e:
    log("raised", exc(e))
    a.close()
b.close()
