"""A subclass keeps its own 'reactor' object in self.reactor (assigned before and after the
dispatcher's __init__) and uses it in its handlers.
Issue: #8 name collisions (self.reactor)."""

import asyncore

from _trace import exc, log, pair


class MyReactor:
    def __init__(self):
        self.seen = []


class Chan(asyncore.dispatcher):
    def __init__(self, sock, map, early):
        if early:
            self.reactor = MyReactor()
        asyncore.dispatcher.__init__(self, sock, map=map)
        if not early:
            self.reactor = MyReactor()

    def handle_read(self):
        data = self.recv(100)
        self.reactor.seen.append(data)
        log("handle_read", data)

    def writable(self):
        return False


for early in (True, False):
    m = {}
    a, b = pair()
    try:
        c = Chan(a, m, early)
    except Exception as e:
        log(f"early={early}: constructing raised", exc(e))
        a.close()
    else:
        b.send(b"hi")
        asyncore.loop(timeout=1, map=m, count=1)
        log(f"early={early}: reactor is mine:", isinstance(c.reactor, MyReactor), c.reactor.seen)
        c.close()
    b.close()
