"""The channel's socket is replaced by another socket object on the same descriptor
(self.socket = socket.socket(fileno=self.socket.detach())), as wrapping for TLS does; idle
~1.5 s (the engine's once-a-second audit), then it still reads and echoes.
Issue: #8 sockets wrapped or detached (self.socket replaced)."""

import asyncore
import socket
import time

from _trace import drain, log, pair


class Chan(asyncore.dispatcher_with_send):
    def __init__(self, sock, map):
        asyncore.dispatcher_with_send.__init__(self, sock, map=map)
        self.socket = socket.socket(fileno=self.socket.detach())

    def handle_read(self):
        data = self.recv(100)
        log("handle_read", data)
        self.send(data)

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
log("peer got", drain(b))
c.close()
b.close()
