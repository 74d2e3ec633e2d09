"""async_chat with use_encoding = 1: a str terminator given to set_terminator is encoded;
str entries appended to producer_fifo are encoded when sent; push() of a str is refused
(TypeError) as in the stdlib; input framed on the encoded terminator.
Issue: #8 async_chat details (use_encoding with str terminators)."""

import asynchat
import asyncore

from _trace import drain, log, pair


class Chat(asynchat.async_chat):
    use_encoding = 1

    def __init__(self, sock, map):
        asynchat.async_chat.__init__(self, sock, map=map)
        self.set_terminator("\r\n")
        log("terminator", self.terminator)
        self.buf = b""

    def collect_incoming_data(self, data):
        self.buf += data

    def found_terminator(self):
        log("line", self.buf)
        self.buf = b""


m = {}
a, b = pair()
c = Chat(a, m)
try:
    c.push("a str")
except Exception as e:
    log("push(str) raised", type(e).__name__)  # the message: chat_push_type_error_message
c.producer_fifo.append("latin-1 text \xe9\r\n")
c.initiate_send()
b.send(b"one\r\ntwo\r\n")
asyncore.loop(timeout=0.01, map=m, count=2)
log("peer got", drain(b))
c.set_terminator(3)
log("int terminator", c.terminator)
c.set_terminator(None)
log("None terminator", c.terminator)
c.close()
b.close()
