"""A dispatcher_with_send subclass keeps a list of its own in self._out_buffer (messages it
wants to log); sending must go on through out_buffer as in the stdlib.
Issue: #8 name collisions (private-looking names: _out_buffer)."""

import asyncore

from _trace import drain, exc, log, pair


class Chan(asyncore.dispatcher_with_send):
    def __init__(self, sock, map):
        asyncore.dispatcher_with_send.__init__(self, sock, map=map)
        self._out_buffer = []

    def send(self, data):
        self._out_buffer.append(len(data))
        asyncore.dispatcher_with_send.send(self, data)

    def handle_read(self):
        self.send(self.recv(100) * 2)


m = {}
a, b = pair()
try:
    c = Chan(a, m)
    b.send(b"ab")
    asyncore.loop(timeout=1, map=m, count=2)
    log("peer got", drain(b), "own list", c._out_buffer, "out_buffer", bytes(c.out_buffer))
    c.close()
except Exception as e:
    log("raised", exc(e))
b.close()
