"""debug = True on a dispatcher_with_send: send() logs 'sending ...' through log_info (info)
for bytes, bytearray and memoryview data.
Issue: none (documented asyncore behaviour: debug)."""

import asyncore

from _trace import drain, log, pair


class Chan(asyncore.dispatcher_with_send):
    debug = True

    def handle_read(self):
        pass


m = {}
a, b = pair()
c = Chan(a, m)
c.send(b"bytes")
c.send(bytearray(b"bytearray"))
c.send(memoryview(b"memoryview"))
log("peer got", drain(b))
c.debug = False
c.send(b"quiet")
log("peer got", drain(b))
c.close()
b.close()
