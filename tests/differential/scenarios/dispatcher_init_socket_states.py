"""dispatcher(sock) with sockets in various states: connected (connected=True, addr =
peer), unconnected (connected False), listening (connected False), already non-blocking;
and with a closed socket (what is raised, and what is left in the map).
Issue: none (documented asyncore behaviour: dispatcher(sock))."""

import asyncore
import socket

from _trace import addr, exc, listener, log

m = {}
lst = listener()
cl = socket.create_connection(lst.getsockname())
srv, _ = lst.accept()
d = asyncore.dispatcher(srv, map=m)
log("connected socket: connected", d.connected, "addr", addr(d.addr), "blocking", srv.getblocking())
d.close()
cl.close()

u = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
d = asyncore.dispatcher(u, map=m)
log("unconnected socket: connected", d.connected, "addr", d.addr, "in map", bool(m))
d.close()

d = asyncore.dispatcher(lst, map=m)
log("listening socket: connected", d.connected, "accepting", d.accepting, "addr", d.addr)
d.close()

z = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
z.close()
try:
    d = asyncore.dispatcher(z, map=m)
    log("closed socket accepted; in map", len(m))
except Exception as e:
    log("closed socket:", exc(e), "map entries", len(m))
m.clear()
