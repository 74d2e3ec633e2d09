"""A socket made by create_socket() and connected (connect() to a loopback listener) before
the first loop pass, as a worker thread preparing a channel would: the handlers that run,
in order, over the first passes; then the peer is accepted and writes.
Issue: #14 (create_socket then connect before the first pass)."""

import asyncore
import socket

from _trace import listener, log


class Client(asyncore.dispatcher):
    def handle_connect(self):
        log("handle_connect")

    def handle_write(self):
        log("handle_write")

    def handle_read(self):
        log("handle_read", self.recv(100))

    def handle_close(self):
        log("handle_close")
        self.close()

    def writable(self):
        return not self.connected


lst = listener()
m = {}
c = Client(map=m)
c.create_socket(socket.AF_INET, socket.SOCK_STREAM)
c.connect(lst.getsockname())
log("connecting", c.connecting, "connected", c.connected)
asyncore.loop(timeout=1, map=m, count=1)
log("after pass 1: connecting", c.connecting, "connected", c.connected)
peer, _ = lst.accept()
peer.send(b"welcome")
asyncore.loop(timeout=1, map=m, count=2)
peer.close()
asyncore.loop(timeout=1, map=m, count=2)
log("in map", bool(m))
c.close()
lst.close()
