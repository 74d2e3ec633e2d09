"""End of input (the peer shut down its sending side and still reads) while a reply is
queued, with the default handle_close, for dispatcher_with_send and async_chat: the stdlib
closes at once and drops the reply; asyncore-ng sends it, then closes (documented in
docs/compat.md). Both end closed and out of the map.
Issue: none (documented difference: flush before close at end of input)."""

import asynchat
import asyncore

from _trace import drain, log, pair


class Dws(asyncore.dispatcher_with_send):
    def handle_read(self):
        self.recv(100)


class Chat(asynchat.async_chat):
    def collect_incoming_data(self, data):
        pass

    def found_terminator(self):
        pass


for cls in (Dws, Chat):
    m = {}
    a, b = pair()
    c = cls(a, m)
    if cls is Chat:
        c.set_terminator(b"\n")
        c.producer_fifo.append(b"queued reply")
    else:
        c.out_buffer = b"queued reply"
    b.shutdown(1)
    asyncore.loop(timeout=0.01, map=m, count=3)
    log(f"{cls.__name__}: peer got {drain(b)!r}")
    log(f"{cls.__name__}: in map {bool(m)}, socket closed {c.socket.fileno() == -1}")
    c.close()
    b.close()
