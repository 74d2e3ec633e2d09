"""class L(dispatcher): accepting = False -- a class attribute on a listener subclass; it
listens and gets two connections (counted), and its handle_write is never called.
Issue: #8 state shadowed by a class attribute (accepting)."""

import asyncore
import socket

from _trace import log

events = []


class L(asyncore.dispatcher):
    accepting = False

    def handle_accepted(self, sock, addr):
        events.append("accepted")
        sock.close()

    def handle_write(self):
        events.append("write")


m = {}
srv = L(map=m)
srv.create_socket(socket.AF_INET, socket.SOCK_STREAM)
srv.bind(("127.0.0.1", 0))
srv.listen(5)
log("accepting:", srv.accepting, "status:", repr(srv).split()[1])
clients = [socket.create_connection(srv.socket.getsockname()) for _ in range(2)]
asyncore.loop(timeout=0.01, map=m, count=4)
log("events:", events)
srv.close()
log("accepting after close:", srv.accepting)
for cl in clients:
    cl.close()
