"""A subclass keeps its own self._entry (a journal entry of its application) on a
dispatcher_with_send and echoes.
Issue: #8 name collisions (private-looking names: _entry)."""

import asyncore

from _trace import drain, exc, log, pair


class Chan(asyncore.dispatcher_with_send):
    def __init__(self, sock, map):
        self._entry = {"journal": "opened"}
        asyncore.dispatcher_with_send.__init__(self, sock, map=map)

    def handle_read(self):
        data = self.recv(100)
        self._entry = {"journal": data}
        self.send(data + b"!")

    def handle_close(self):
        log("handle_close")
        self.close()


m = {}
a, b = pair()
c = Chan(a, m)
b.send(b"msg")
try:
    asyncore.loop(timeout=1, map=m, count=2)
except Exception as e:
    log("loop raised", exc(e))
log("peer got", drain(b), "entry", c._entry)
b.close()
try:
    asyncore.loop(timeout=1, map=m, count=2)
except Exception as e:
    log("loop raised", exc(e))
log("map empty:", not m)
c.close()
