"""Class and instance attributes of a new dispatcher and after each step (create_socket,
set_reuse_addr, bind, listen, close): connected, accepting, connecting, closing, addr, debug,
family_and_type, _fileno against the socket's, the map entry.
Issue: none (documented asyncore API: attributes)."""

import asyncore
import socket

from _trace import addr, log


def show(label, d, m):
    fileno = d.socket.fileno() if d.socket is not None else None
    log(
        f"{label}: connected={d.connected} accepting={d.accepting} connecting={d.connecting} "
        f"closing={d.closing} addr={addr(d.addr)} debug={d.debug} "
        f"fileno_matches={d._fileno == fileno if fileno is not None else d._fileno} "
        f"in_map={d._fileno in m and m[d._fileno] is d} map_is_own={d._map is m}"
    )


log(
    "class:",
    asyncore.dispatcher.connected,
    asyncore.dispatcher.accepting,
    asyncore.dispatcher.connecting,
    asyncore.dispatcher.closing,
    asyncore.dispatcher.addr,
    asyncore.dispatcher.debug,
    sorted(asyncore.dispatcher.ignore_log_types),
)
m = {}
d = asyncore.dispatcher(map=m)
log("socket:", d.socket)
show("new", d, m)
d.create_socket(socket.AF_INET, socket.SOCK_STREAM)
log("family_and_type:", d.family_and_type == (socket.AF_INET, socket.SOCK_STREAM))
log("blocking:", d.socket.getblocking())
show("created", d, m)
d.set_reuse_addr()
log("reuse:", bool(d.socket.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)))
d.bind(("127.0.0.1", 0))
show("bound", d, m)
d.listen(3)
show("listening", d, m)
d.close()
show("closed", d, m)
log("socket closed:", d.socket.fileno() == -1)
d2 = asyncore.dispatcher()
log("default map is socket_map:", d2._map is asyncore.socket_map)
