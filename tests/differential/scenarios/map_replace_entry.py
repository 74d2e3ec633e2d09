"""Replacing m[fd] by hand with another object (after a first pass): the next events go to
the new object, as the stdlib looks the object up in the map at dispatch. With a plain
dict and with the default socket_map.
Issue: #8 the map by hand (replacing m[fd])."""

import asyncore

from _trace import log, pair


class Chan(asyncore.dispatcher):
    def __init__(self, sock, map, name):
        asyncore.dispatcher.__init__(self, sock, map=map)
        self.name = name

    def handle_read(self):
        log(self.name, "handle_read", self.recv(100))

    def writable(self):
        return False


class Other(asyncore.dispatcher):
    """Not in any map by itself; reads from the same socket."""

    def __init__(self, sock):
        asyncore.dispatcher.__init__(self, map={})
        self.socket = sock
        self.connected = True

    def handle_read(self):
        log("other handle_read", self.socket.recv(100))

    def writable(self):
        return False


for label, m in (("plain dict", {}), ("socket_map", asyncore.socket_map)):
    a, b = pair()
    c = Chan(a, m, "first")
    b.send(b"1")
    asyncore.loop(timeout=0.01, map=m, count=1)
    m[a.fileno()] = Other(a)
    log(f"{label}: replaced")
    b.send(b"2")
    asyncore.loop(timeout=0.01, map=m, count=1)
    b.send(b"3")
    asyncore.loop(timeout=0.01, map=m, count=1)
    m.clear()
    a.close()
    b.close()
