"""A producer whose __len__ says 0 although more() still has data: the stdlib's
initiate_send drops the entry (it is falsy) and then still calls more() once, sending what it
returns. When that more() returns b"" the stdlib also deleted the entry that followed (data
lost); asyncore-ng keeps it (docs/compat.md)."""

import asynchat
import asyncore

from _trace import drain, log, pair


class Lying:
    def __init__(self):
        self.calls = 0

    def __len__(self):
        return 0

    def more(self):
        self.calls += 1
        return b"from more %d" % self.calls if self.calls < 3 else b""


class Chat(asynchat.async_chat):
    def collect_incoming_data(self, data):
        pass

    def found_terminator(self):
        pass


m = {}
a, b = pair()
c = Chat(a, m)
p = Lying()
c.push_with_producer(p)
c.push(b"|after")
asyncore.loop(timeout=0.01, map=m, count=4)
log("more() calls", p.calls)
log("peer got", drain(b))
log("fifo", [repr(x) if not isinstance(x, (bytes, memoryview)) else bytes(x) for x in c.producer_fifo])
c.close()
b.close()


class Spent(Lying):
    def more(self):
        self.calls += 1
        return b""


m = {}
a, b = pair()
c = Chat(a, m)
p = Spent()
c.producer_fifo.append(p)
c.producer_fifo.append(b"|kept")
c.initiate_send()
asyncore.loop(timeout=0.01, map=m, count=4)
log("spent: more() calls", p.calls)
log("spent: peer got", drain(b))
c.close()
b.close()
