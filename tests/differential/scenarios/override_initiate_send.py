"""A dispatcher_with_send subclass overriding initiate_send (logging, then the base's):
send() goes through it for every call, and so does each write event.
Issue: #8 module globals patched at run time (initiate_send overridden)."""

import asyncore

from _trace import drain, log, pair


class Chan(asyncore.dispatcher_with_send):
    def initiate_send(self):
        log("initiate_send, queued:", len(self.out_buffer))
        asyncore.dispatcher_with_send.initiate_send(self)

    def handle_read(self):
        pass


m = {}
a, b = pair()
c = Chan(a, m)
c.send(b"abc")
c.send(b"def")
log("peer got", drain(b))
c.out_buffer = b"ghi"
asyncore.loop(timeout=0.01, map=m, count=2)
log("peer got", drain(b))
c.close()
b.close()
