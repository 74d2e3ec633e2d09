"""async_chat output: push of bytes, push_with_producer of a simple_producer and of a custom
producer (more() until b''), push of data longer than ac_out_buffer_size, then
close_when_done: the peer receives everything in order, handle_close runs once.
Issue: #8 async_chat details (push with producers, close_when_done)."""

import asynchat
import asyncore

from _trace import drain, log, pair


class Countdown:
    def __init__(self, n):
        self.n = n

    def more(self):
        if self.n == 0:
            log("  Countdown.more -> b''")
            return b""
        self.n -= 1
        return b"%d," % self.n


class Chat(asynchat.async_chat):
    ac_out_buffer_size = 8

    def __init__(self, sock, map):
        asynchat.async_chat.__init__(self, sock, map=map)
        self.set_terminator(b"\n")

    def collect_incoming_data(self, data):
        pass

    def found_terminator(self):
        pass

    def handle_close(self):
        log("handle_close")
        self.close()


m = {}
a, b = pair()
c = Chat(a, m)
c.push(b"start|")
c.push_with_producer(asynchat.simple_producer(b"simple-producer-data|", buffer_size=5))
c.push_with_producer(Countdown(3))
c.push(b"0123456789abcdefghij|")
c.close_when_done()
got = drain(b)
for _ in range(40):
    asyncore.loop(timeout=0.01, map=m, count=1)
    got += drain(b)
    if not m:
        break
log("peer got", got)
log("in map", bool(m))
b.close()
