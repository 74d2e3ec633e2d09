"""async_chat: push, close_when_done, push again (after the marker): the peer gets what was
pushed before the marker; handle_close runs once; the channel leaves the map.
Issue: #8 close semantics (close_when_done)."""

import asynchat
import asyncore

from _trace import drain, log, pair


class Chat(asynchat.async_chat):
    def __init__(self, sock, map):
        asynchat.async_chat.__init__(self, sock, map=map)
        self.set_terminator(b"\n")

    def collect_incoming_data(self, data):
        pass

    def found_terminator(self):
        pass

    def handle_close(self):
        log("handle_close")
        asynchat.async_chat.handle_close(self)


m = {}
a, b = pair()
c = Chat(a, m)
c.push(b"one\n")
c.push(b"two\n")
c.close_when_done()
c.push(b"after the marker\n")
log("peer got before the loop:", drain(b))
asyncore.loop(timeout=0.01, map=m, count=5)
log("peer got:", drain(b), "in map", bool(m))
c.close()
b.close()
