"""The channel's socket object is detached into another socket object kept in another
attribute (s2 = socket.socket(fileno=sock.detach()), the ssl.wrap_socket pattern); the
descriptor stays open and the map key is unchanged, so the stdlib goes on serving it. Runs
~1.5 s of idle passes (the engine audits sockets once a second), then the peer writes.
Issue: #8 sockets wrapped or detached (another attribute)."""

import asyncore
import socket
import time

from _trace import log, pair


class Chan(asyncore.dispatcher):
    def __init__(self, sock, map):
        asyncore.dispatcher.__init__(self, sock, map=map)
        self.wrapped = socket.socket(fileno=self.socket.detach())

    def handle_read(self):
        log("handle_read", self.wrapped.recv(100))

    def writable(self):
        return False

    def handle_close(self):
        log("handle_close")
        self.close()


m = {}
a, b = pair()
c = Chan(a, m)
end = time.monotonic() + 1.5
while time.monotonic() < end:
    asyncore.loop(timeout=0.05, map=m, count=1)
log("after 1.5 s idle: in map", bool(m))
b.send(b"ping")
asyncore.loop(timeout=1, map=m, count=1)
log("in map", bool(m))
m.clear()
c.wrapped.close()
b.close()
