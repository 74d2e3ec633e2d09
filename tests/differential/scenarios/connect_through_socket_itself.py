"""The BACnet-client shape: create_socket(), then the program connects through
self.socket.connect_ex() itself, never calling connect(); it waits for handle_write to judge
the connection from SO_ERROR. A loopback listener and a refused address, both semantics."""

import asyncore
import errno
import socket
import sys

from _trace import exc, listener, log, refused_address


class SelfConnecting(asyncore.dispatcher):
    def __init__(self, map):
        asyncore.dispatcher.__init__(self, map=map)
        self.create_socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sent = False

    def handle_write(self):
        err = self.socket.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            log("  handle_write: SO_ERROR", errno.errorcode[err])
            self.close()
        elif not self.sent:
            self.sent = True
            log("  handle_write: connected, sending")
            self.send(b"ping")

    def handle_read(self):
        log("  handle_read:", self.recv(100))

    def handle_error(self):
        log("  handle_error:", exc(sys.exc_info()[1]))
        self.close()

    def writable(self):
        return not self.sent


for use_poll in (False, True):
    lst = listener()
    m = {}
    c = SelfConnecting(m)
    err = c.socket.connect_ex(lst.getsockname())
    log(f"use_poll={use_poll}: connect_ex to a listener ->", errno.errorcode.get(err, err))
    asyncore.loop(timeout=1, use_poll=use_poll, map=m, count=1)
    peer, _ = lst.accept()
    log("  peer got", peer.recv(100))
    peer.send(b"pong")
    asyncore.loop(timeout=1, use_poll=use_poll, map=m, count=1)
    asyncore.close_all(m)
    peer.close()
    lst.close()

    closed, address = refused_address()
    m = {}
    c = SelfConnecting(m)
    err = c.socket.connect_ex(address)
    log(f"use_poll={use_poll}: connect_ex to a refused address ->", errno.errorcode.get(err, err))
    asyncore.loop(timeout=1, use_poll=use_poll, map=m, count=3)
    log("  in map", bool(m))
    asyncore.close_all(m)
    closed.close()
