"""An exception in found_terminator, with a handle_error that logs and does not close: the
stdlib keeps the input after that terminator in ac_in_buffer and frames it with the next
read, so no message is lost: messages a, b (raises), c (held), then d arrives -> c, d.
Issue: #8 async_chat details (exception in found_terminator loses the rest of the read)."""

import asynchat
import asyncore

from _trace import log, pair


class Chat(asynchat.async_chat):
    def __init__(self, sock, map):
        asynchat.async_chat.__init__(self, sock, map=map)
        self.set_terminator(b"\n")
        self.buf = b""
        self.messages = []

    def collect_incoming_data(self, data):
        self.buf += data

    def found_terminator(self):
        msg, self.buf = self.buf, b""
        self.messages.append(msg)
        if msg == b"b":
            raise ValueError("bad message")

    def handle_error(self):
        log("handle_error, ac_in_buffer:", self.ac_in_buffer)


m = {}
a, b = pair()
c = Chat(a, m)
b.send(b"a\nb\nc\n")
asyncore.loop(timeout=1, map=m, count=1)
log("after the first read:", c.messages)
b.send(b"d\n")
asyncore.loop(timeout=1, map=m, count=1)
log("after the second read:", c.messages)
c.close()
b.close()
