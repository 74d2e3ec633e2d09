"""An async_chat subclass assigns ac_in_buffer (and terminator, incoming) before calling
async_chat.__init__ (old code set up its state first): __init__ resets ac_in_buffer and
incoming; framing works afterwards.
Issue: #8 async_chat details (ac_in_buffer assigned before __init__)."""

import asynchat
import asyncore

from _trace import exc, log, pair


class Chat(asynchat.async_chat):
    def __init__(self, sock, map):
        self.ac_in_buffer = b"stale"
        self.incoming = [b"stale"]
        self.set_terminator(b";")
        asynchat.async_chat.__init__(self, sock, map=map)
        log(
            "after __init__: ac_in_buffer",
            self.ac_in_buffer,
            "incoming",
            self.incoming,
            "terminator",
            self.terminator,
        )

    def collect_incoming_data(self, data):
        self._collect_incoming_data(data)

    def found_terminator(self):
        log("message", self._get_data())


m = {}
a, b = pair()
try:
    c = Chat(a, m)
    b.send(b"x;y;")
    asyncore.loop(timeout=1, map=m, count=1)
    c.close()
except Exception as e:
    log("raised", exc(e))
    a.close()
b.close()
