"""asyncore.readwrite wrapped by a tracing function: the stdlib's poll2() (use_poll=True)
dispatches each ready channel through the module's readwrite(obj, flags), looked up at call
time.
Issue: #8 module globals patched at run time (readwrite)."""

import asyncore
import select

from _trace import log, pair

orig = asyncore.readwrite


def traced(obj, flags):
    names = [
        n
        for n in ("POLLIN", "POLLPRI", "POLLOUT", "POLLERR", "POLLHUP", "POLLNVAL")
        if flags & getattr(select, n)
    ]
    log("asyncore.readwrite", obj.name, "|".join(names))
    return orig(obj, flags)


class Chan(asyncore.dispatcher):
    name = "chan"

    def handle_read(self):
        log("handle_read", self.recv(100))

    def writable(self):
        return False


m = {}
a, b = pair()
c = Chan(a, m)
b.send(b"x")
asyncore.readwrite = traced
try:
    asyncore.loop(timeout=1, map=m, count=1, use_poll=True)
    b.close()
    asyncore.loop(timeout=1, map=m, count=1, use_poll=True)
finally:
    asyncore.readwrite = orig
log("in map:", bool(m))
c.close()
