"""Code that rebinds asyncore.socket_map (CPython's tests do): dispatchers created afterwards
register in the new dict, loop()/poll() without map= serve it, close_all() clears it; the old
map object is untouched.
Issue: none (documented asyncore behaviour: socket_map)."""

import asyncore

from _trace import log, pair


class Chan(asyncore.dispatcher):
    def handle_read(self):
        log("handle_read", self.recv(10))

    def writable(self):
        return False


old = asyncore.socket_map
new = {}
asyncore.socket_map = new
a, b = pair()
c = Chan(a)
log("registered in the new map:", len(new), "old map:", len(old))
b.send(b"hi")
asyncore.loop(timeout=0.01, count=1)
b.send(b"ho")
asyncore.poll(0.01)
asyncore.close_all()
log("after close_all: new", len(new), "socket closed", c.socket.fileno() == -1)
asyncore.socket_map = old
b.close()
