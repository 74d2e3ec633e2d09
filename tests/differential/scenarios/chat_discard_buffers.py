"""async_chat.discard_buffers() from inside found_terminator (the rest of the read, the
collected data and queued output are dropped), then framing resumes with the next read.
Issue: #8 async_chat details (discard_buffers)."""

import asynchat
import asyncore

from _trace import drain, log, pair


class Chat(asynchat.async_chat):
    def __init__(self, sock, map):
        asynchat.async_chat.__init__(self, sock, map=map)
        self.set_terminator(b"\n")

    def collect_incoming_data(self, data):
        self._collect_incoming_data(data)

    def found_terminator(self):
        line = self._get_data()
        log("line", line)
        if line == b"reset":
            self.producer_fifo.append(b"never sent\n")
            self.incoming.append(b"collected")
            self.discard_buffers()
            log(
                "after discard: ac_in_buffer",
                self.ac_in_buffer,
                "incoming",
                self.incoming,
                "fifo",
                len(self.producer_fifo),
                "writable",
                bool(self.writable()),
            )


m = {}
a, b = pair()
c = Chat(a, m)
b.send(b"one\nreset\nlost\npart")
asyncore.loop(timeout=0.01, map=m, count=1)
b.send(b"ial\nnext\n")
asyncore.loop(timeout=0.01, map=m, count=2)
log("peer got", drain(b))
c.close()
b.close()
