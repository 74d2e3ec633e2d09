"""A subclass uses self._connected for its own data (a set of peer ids); asyncore's
'connected' is a different attribute. Echo a message over several passes, count the write
events of a dispatcher_with_send that has nothing queued, and show repr's status word.
Issue: #8 name collisions (private-looking names: _connected)."""

import asyncore

from _trace import drain, log, pair

writes = 0


class Chan(asyncore.dispatcher_with_send):
    def __init__(self, sock, map):
        asyncore.dispatcher_with_send.__init__(self, sock, map=map)
        self._connected = set()

    def handle_read(self):
        data = self.recv(100)
        self._connected.add(data)
        log("handle_read", data)
        self.send(data)

    def handle_write(self):
        global writes
        writes += 1
        asyncore.dispatcher_with_send.handle_write(self)


m = {}
a, b = pair()
c = Chan(a, m)
log("connected:", c.connected, "status:", repr(c).split()[1])
b.send(b"hello")
asyncore.loop(timeout=0.01, map=m, count=5)
log("peer got", drain(b), "write events:", writes, "own data:", sorted(c._connected))
c.close()
b.close()
