"""async_chat.push of a memoryview, a bytearray (changed by the caller after push, once
sent), a bytes larger than ac_out_buffer_size, and of non-bytes (int, str, list: TypeError).
The peer receives the bytes in order.
Issue: #8 async_chat details (push of memoryview/bytearray)."""

import asynchat
import asyncore

from _trace import drain, log, pair


class Chat(asynchat.async_chat):
    ac_out_buffer_size = 4

    def __init__(self, sock, map):
        asynchat.async_chat.__init__(self, sock, map=map)
        self.set_terminator(b"\n")

    def collect_incoming_data(self, data):
        pass

    def found_terminator(self):
        pass


m = {}
a, b = pair()
c = Chat(a, m)
c.push(memoryview(b"memoryview|"))
ba = bytearray(b"bytearray|")
c.push(ba)
c.push(b"bytes longer than four|")
for bad in (5, "str", [b"x"]):
    try:
        c.push(bad)
    except Exception as e:
        log(f"push({type(bad).__name__}) raised {type(e).__name__}")
for _ in range(30):
    asyncore.loop(timeout=0.01, map=m, count=1)
    if not c.producer_fifo:
        break
ba[:] = b"changed"
asyncore.loop(timeout=0.01, map=m, count=1)
log("peer got", drain(b))
c.close()
b.close()
