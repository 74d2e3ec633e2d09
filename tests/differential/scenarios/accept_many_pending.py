"""A listener with three connections already queued: the stdlib's handle_accept accepts one
connection per read event, so one per pass; handle_accepted gets each socket.
Issue: none (documented asyncore behaviour: accept)."""

import asyncore
import socket

from _trace import log

accepted = []


class Server(asyncore.dispatcher):
    def handle_accepted(self, sock, addr):
        accepted.append(sock)

    def handle_write(self):
        log("handle_write (should not run: accepting)")


m = {}
srv = Server(map=m)
srv.create_socket(socket.AF_INET, socket.SOCK_STREAM)
srv.bind(("127.0.0.1", 0))
srv.listen(5)
clients = [socket.create_connection(srv.socket.getsockname()) for _ in range(3)]
for i in range(5):
    asyncore.loop(timeout=0.01, map=m, count=1)
    log(f"pass {i}: accepted so far {len(accepted)}")
log("accept() with nothing pending ->", srv.accept())
srv.close()
for s in accepted + clients:
    s.close()
