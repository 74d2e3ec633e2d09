"""A bare async_chat (collect_incoming_data/found_terminator not defined) receiving data:
NotImplementedError goes to the default handle_error, which prints it and closes. Another
without set_terminator (no terminator attribute) receiving data.
Issue: none (documented asynchat behaviour)."""

import asynchat
import asyncore

from _trace import exc, log, pair

m = {}
a, b = pair()
c = asynchat.async_chat(a, map=m)
c.set_terminator(b"\n")
b.send(b"data\n")
asyncore.loop(timeout=0.01, map=m, count=1)
log("bare: in map", bool(m))

a, b2 = pair()
d = asynchat.async_chat(a, map=m)
d.collect_incoming_data = lambda data: log("collect", data)
d.found_terminator = lambda: log("found")
try:
    log("get_terminator:", d.get_terminator())
except Exception as e:
    log("get_terminator raised", exc(e))
b2.send(b"xyz")
asyncore.loop(timeout=0.01, map=m, count=1)
log("no terminator: in map", bool(m))
asyncore.close_all(map=m)
b.close()
b2.close()
