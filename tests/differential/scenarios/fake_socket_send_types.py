"""A fake socket object (not a socket: it records calls, and takes at most 1000 bytes per
send) given to a dispatcher_with_send through set_socket; its fileno() is a real descriptor
(a socketpair end) so the loop can watch it. Each send call's argument type and size: the
stdlib hands bytes slices of at most 65536 bytes.
Issue: #8 module globals patched at run time (a fake socket's send arguments)."""

import asyncore

from _trace import log, pair


class FakeSock:
    def __init__(self, real):
        self.real = real
        self.calls = []

    def fileno(self):
        return self.real.fileno()

    def setblocking(self, flag):
        pass

    def getpeername(self):
        return "fake-peer"

    def send(self, data):
        self.calls.append(f"{type(data).__name__}:{len(data)}")
        return min(len(data), 1000)

    def recv(self, n):
        return self.real.recv(n)

    def close(self):
        self.real.close()


class Chan(asyncore.dispatcher_with_send):
    def handle_read(self):
        pass


m = {}
a, b = pair()
fake = FakeSock(a)
c = Chan(map=m)
c.set_socket(fake)
c.connected = True
c.send(b"x" * 150000)
log("after send:", fake.calls, "queued", len(c.out_buffer))
fake.calls.clear()
asyncore.loop(timeout=0.01, map=m, count=3)
log("3 passes:", fake.calls, "queued", len(c.out_buffer))
c.close()
b.close()
