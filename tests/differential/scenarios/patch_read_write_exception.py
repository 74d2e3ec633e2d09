"""asyncore.read, asyncore.write and asyncore._exception wrapped by tracing functions: the
stdlib's poll() (select semantics) dispatches each event through the module's functions,
looked up at call time. A TCP pair with input and out-of-band data pending, so all three run.
Issue: #8 module globals patched at run time (read, write, _exception)."""

import asyncore
import socket

from _trace import log, tcp_pair

orig = {n: getattr(asyncore, n) for n in ("read", "write", "_exception")}


def traced(name):
    def wrapper(obj):
        log(f"asyncore.{name}({obj.name})")
        return orig[name](obj)

    return wrapper


class Chan(asyncore.dispatcher):
    name = "chan"
    writes = 0

    def handle_read(self):
        log("handle_read", self.recv(100))

    def handle_expt(self):
        log("handle_expt", self.socket.recv(1, socket.MSG_OOB))

    def writable(self):
        return self.writes < 1

    def handle_write(self):
        self.writes += 1
        log("handle_write")


m = {}
a, b = tcp_pair()
c = Chan(a, m)
b.send(b"data")
b.send(b"!", socket.MSG_OOB)
for n in orig:
    setattr(asyncore, n, traced(n))
try:
    asyncore.loop(timeout=1, map=m, count=1)
finally:
    for n, f in orig.items():
        setattr(asyncore, n, f)
c.close()
b.close()
