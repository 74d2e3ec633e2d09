"""class C(dispatcher_with_send): connected = False, as a client: it connects to a loopback
listener, so `connected` changes after the channel is in the map (first False, then True on
the connect event). Count handle_connect and handle_write calls over 10 passes (stdlib: one
write event completes the connection; after it nothing is queued, writable() is false and
handle_write is not called again), then send one message and read the echo of the peer.
Issue: #8 state shadowed by a class attribute (connected), with the state changing."""

import asyncore
import socket

from _trace import listener, log

connects = 0
writes = 0


class C(asyncore.dispatcher_with_send):
    connected = False

    def handle_connect(self):
        global connects
        connects += 1

    def handle_write(self):
        global writes
        writes += 1
        asyncore.dispatcher_with_send.handle_write(self)

    def handle_read(self):
        log("handle_read", self.recv(100))


m = {}
srv = listener()
c = C(map=m)
c.create_socket(socket.AF_INET, socket.SOCK_STREAM)
c.connect(srv.getsockname())
peer, _ = srv.accept()
asyncore.loop(timeout=0.01, map=m, count=10)
log("connects:", connects, "handle_write calls:", writes, "connected:", c.connected)
c.send(b"ping")
log("peer got:", peer.recv(100))
peer.send(b"pong")
asyncore.loop(timeout=0.01, map=m, count=3)
log("connects:", connects, "handle_write calls:", writes)
c.close()
peer.close()
srv.close()
