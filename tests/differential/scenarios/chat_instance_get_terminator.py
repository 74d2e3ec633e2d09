"""An async_chat whose get_terminator is replaced on the instance (the class's
set_terminator says b'\\n', the instance's get_terminator says b'|'): framing follows
get_terminator, as the stdlib consults it at every step.
Issue: #8 predicates replaced late (instance get_terminator)."""

import asynchat
import asyncore

from _trace import log, pair


class Chat(asynchat.async_chat):
    def __init__(self, sock, map):
        asynchat.async_chat.__init__(self, sock, map=map)
        self.set_terminator(b"\n")
        self.buf = b""

    def collect_incoming_data(self, data):
        log("collect", data)
        self.buf += data

    def found_terminator(self):
        log("found", self.buf)
        self.buf = b""


m = {}
a, b = pair()
c = Chat(a, m)
c.get_terminator = lambda: b"|"
b.send(b"a|b\nc|d")
asyncore.loop(timeout=1, map=m, count=1)
log("ac_in_buffer", c.ac_in_buffer)
c.close()
b.close()
