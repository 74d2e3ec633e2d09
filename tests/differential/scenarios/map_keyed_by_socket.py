"""A map keyed by socket objects instead of descriptor numbers (select.select accepts
objects with fileno()): under select semantics the stdlib serves it; under poll semantics
its poll() reports numbers that are not keys, so nothing is dispatched. Ours must do the same
or fail with a clear error, never hang (the scenario's deadline would show a hang).
Issue: #8 the map by hand (a map keyed by socket objects)."""

import asyncore

from _trace import exc, log, pair


class Chan(asyncore.dispatcher):
    def handle_read(self):
        log("handle_read", self.recv(100))

    def writable(self):
        return False


for use_poll in (False, True):
    a, b = pair()
    c = Chan(a, map={})
    m = {a: c}
    b.send(b"data")
    try:
        asyncore.loop(timeout=0.01, map=m, count=2, use_poll=use_poll)
        log(f"use_poll={use_poll}: loop returned")
    except Exception as e:
        log(f"use_poll={use_poll}: loop raised", exc(e))
    m.clear()
    a.close()
    b.close()
