"""asyncore.poll and asyncore.poll2 wrapped by tracing functions: loop() calls the module's
poll (select semantics) or poll2 (use_poll=True) once per pass, looked up when loop() starts,
with (timeout, map).
Issue: #8 module globals patched at run time (poll, poll2)."""

import asyncore

from _trace import log, pair

orig_poll, orig_poll2 = asyncore.poll, asyncore.poll2


def traced(name, fn):
    def wrapper(timeout=0.0, map=None):
        log(f"{name}(timeout={timeout!r}, map is m: {map is m})")
        return fn(timeout, map)

    return wrapper


class Chan(asyncore.dispatcher):
    def handle_read(self):
        log("handle_read", self.recv(100))

    def writable(self):
        return False


m = {}
a, b = pair()
c = Chan(a, m)
asyncore.poll = traced("poll", orig_poll)
asyncore.poll2 = traced("poll2", orig_poll2)
try:
    b.send(b"1")
    asyncore.loop(timeout=0.01, map=m, count=2)
    b.send(b"2")
    asyncore.loop(timeout=0.01, map=m, count=2, use_poll=True)
    asyncore.poll(0.0, m)
    asyncore.poll3(0.0, m)
finally:
    asyncore.poll, asyncore.poll2 = orig_poll, orig_poll2
c.close()
b.close()
