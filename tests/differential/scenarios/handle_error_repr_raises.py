"""The default handle_error when the channel's __repr__ raises: the message uses the
'<__repr__(self) failed for object at ...>' fallback, then handle_close runs.
Issue: none (documented asyncore behaviour: handle_error)."""

import asyncore

from _trace import log, pair


class Chan(asyncore.dispatcher):
    def __repr__(self):
        raise RuntimeError("no repr")

    def handle_read(self):
        self.recv(10)
        raise ZeroDivisionError("in handler")

    def writable(self):
        return False

    def handle_close(self):
        log("handle_close")
        self.close()


m = {}
a, b = pair()
c = Chan(a, m)
b.send(b"x")
asyncore.loop(timeout=1, map=m, count=1)
log("in map", bool(m))
b.close()
