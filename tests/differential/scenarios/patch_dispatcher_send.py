"""asyncore.dispatcher.send patched at run time (a tracing wrapper): dispatcher_with_send
sends through dispatcher.send (its initiate_send calls it), so every socket write shows up,
with the argument type and size (at most 65536 bytes a call in the stdlib).
Issue: #8 module globals patched at run time (dispatcher.send)."""

import asyncore

from _trace import drain, log, pair

orig = asyncore.dispatcher.send


def traced(self, data):
    n = orig(self, data)
    log(f"dispatcher.send({type(data).__name__} of {len(data)}) -> {'all' if n == len(data) else 'part'}")
    return n


class Chan(asyncore.dispatcher_with_send):
    def handle_read(self):
        pass


m = {}
a, b = pair()
c = Chan(a, m)
asyncore.dispatcher.send = traced
try:
    c.send(b"hello")
    c.send(b"x" * 100000)
    got = drain(b)
    asyncore.loop(timeout=0.01, map=m, count=2)
    got += drain(b)
    log("peer got", len(got), "bytes")
finally:
    asyncore.dispatcher.send = orig
c.close()
b.close()
