"""The default handlers' warnings, visible with ignore_log_types emptied: unhandled read,
write, connect, accepted and close events, as they happen in a loop (accept with the default
handle_accepted closes the socket; end of input with the default handle_close closes).
Issue: none (documented asyncore behaviour: default handlers)."""

import asyncore
import socket

from _trace import log, pair


class Loud(asyncore.dispatcher):
    ignore_log_types = frozenset()


m = {}
a, b = pair()
c = Loud(a, m)
b.send(b"x")
log("-- data pending")
asyncore.loop(timeout=0.01, map=m, count=1)
b.close()
log("-- peer closed")
c.handle_read = lambda: c.recv(10)
asyncore.loop(timeout=0.01, map=m, count=1)
log("in map", bool(m))

srv = Loud(map=m)
srv.create_socket(socket.AF_INET, socket.SOCK_STREAM)
srv.bind(("127.0.0.1", 0))
srv.listen(5)
cl = socket.create_connection(srv.socket.getsockname())
log("-- connection pending")
asyncore.loop(timeout=1, map=m, count=1)
log("client sees close:", cl.recv(10))
cl.close()

cl2 = Loud(map=m)
cl2.create_socket(socket.AF_INET, socket.SOCK_STREAM)
cl2.connect(srv.socket.getsockname())
log("-- connecting")
asyncore.loop(timeout=1, map=m, count=1)
asyncore.close_all(map=m)
