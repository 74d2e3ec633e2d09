"""A UDP channel (SOCK_DGRAM, bound, never connected) with the default predicates: datagrams
written before the loop are read with recvfrom in handle_read; the socket is always writable
and never connected, so its first write event completes a "connection" (handle_connect), as in
the stdlib; the default handle_write's warning is ignored by default.
Then the same channel connect()s to its peer and uses send()/recv().
Issue: #14 connectionless channels keep working exactly as before."""

import asyncore
import socket

from _trace import LOOPBACK, log


class U(asyncore.dispatcher):
    def __init__(self, map):
        asyncore.dispatcher.__init__(self, map=map)
        self.create_socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.bind((LOOPBACK, 0))

    def handle_read(self):
        data, addr = self.socket.recvfrom(100)
        log("handle_read", data, "from peer:", addr == peer.getsockname())

    def handle_connect(self):
        log("handle_connect")


m = {}
u = U(m)
peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
peer.bind((LOOPBACK, 0))
log("connected:", u.connected, "readable:", u.readable(), "writable:", u.writable())
peer.sendto(b"one", u.socket.getsockname())
peer.sendto(b"two", u.socket.getsockname())
asyncore.loop(timeout=0.01, map=m, count=3)
asyncore.loop(timeout=0.01, map=m, count=2, use_poll=True)

u.connect(peer.getsockname())
log("after connect: connected:", u.connected, "writable:", u.writable())
log("sent:", u.send(b"hello"))
log("peer got:", peer.recvfrom(100)[0])
peer.sendto(b"back", u.socket.getsockname())


u.handle_read = lambda: log("recv", u.recv(100))
asyncore.loop(timeout=0.01, map=m, count=2, use_poll=True)
u.close()
peer.close()
log("map empty:", not m)
