"""Terminators changed inside found_terminator: a header line (bytes terminator b'\\r\\n'),
a body of the announced length (int terminator), a multi-byte terminator, then None (the
rest of the stream). Input in one read.
Issue: #8 async_chat details (terminators bytes/int/None changed inside found_terminator)."""

import asynchat
import asyncore

from _trace import log, pair


class Chat(asynchat.async_chat):
    def __init__(self, sock, map):
        asynchat.async_chat.__init__(self, sock, map=map)
        self.set_terminator(b"\r\n")
        self.state = "header"
        self.buf = []

    def collect_incoming_data(self, data):
        self.buf.append(data)

    def found_terminator(self):
        data = b"".join(self.buf)
        self.buf = []
        log(self.state, data, "terminator now", self.terminator)
        if self.state == "header":
            self.state = "body"
            self.set_terminator(int(data.split()[1]))
        elif self.state == "body":
            self.state = "trailer"
            self.set_terminator(b"END!")
        elif self.state == "trailer":
            self.state = "rest"
            self.set_terminator(None)


m = {}
a, b = pair()
c = Chat(a, m)
b.send(b"LEN 5\r\nhello:tail-partEND!free form data")
b.shutdown(1)
for _ in range(80):
    asyncore.loop(timeout=1, map=m, count=1)
    if not m:
        break
log("rest collected", b"".join(c.buf), "terminator", c.terminator, "in map", bool(m))
c.close()
b.close()
