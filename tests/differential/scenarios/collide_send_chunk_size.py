"""A dispatcher_with_send subclass has a class attribute send_chunk_size of its own meaning
(3); output queued by assigning out_buffer (stdlib style) goes out on the next write event:
the stdlib hands the socket up to 65536 bytes at once, whatever that attribute says.
Issue: #8 name collisions (send_chunk_size)."""

import asyncore

from _trace import drain, log, pair


class Chan(asyncore.dispatcher_with_send):
    send_chunk_size = 3

    def handle_read(self):
        pass


m = {}
a, b = pair()
c = Chan(a, m)
c.out_buffer = b"0123456789"
asyncore.loop(timeout=1, map=m, count=1)
log("peer got after one pass:", drain(b))
log("left:", bytes(c.out_buffer))
c.close()
b.close()
