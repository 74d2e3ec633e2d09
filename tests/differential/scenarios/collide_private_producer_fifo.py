"""An async_chat subclass keeps its own self._producer_fifo (a deque of pending jobs) and
pushes replies.
Issue: #8 name collisions (private-looking names: _producer_fifo)."""

import asynchat
import asyncore
from collections import deque

from _trace import drain, exc, log, pair


class Chat(asynchat.async_chat):
    def __init__(self, sock, map):
        asynchat.async_chat.__init__(self, sock, map=map)
        self._producer_fifo = deque(["job1"])
        self.set_terminator(b"\n")

    def collect_incoming_data(self, data):
        self._producer_fifo.append(data)

    def found_terminator(self):
        self.push(b"ok " + self._producer_fifo.pop() + b"\n")


m = {}
a, b = pair()
try:
    c = Chat(a, m)
    b.send(b"a\nb\n")
    asyncore.loop(timeout=1, map=m, count=2)
    log("peer got", drain(b), "own jobs", list(c._producer_fifo), "writable", bool(c.writable()))
    c.close()
except Exception as e:
    log("raised", exc(e))
b.close()
