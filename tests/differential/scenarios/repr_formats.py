"""repr() of dispatchers: plain (no socket), connected with a loopback address, listening,
accepting without an address, an address that is a string (AF_UNIX path), a 3-tuple, a
nested subclass (qualname), dispatcher_with_send and async_chat base classes.
Issue: none (documented asyncore behaviour: repr)."""

import asynchat
import asyncore
import socket

from _trace import listener, log

m = {}
log(repr(asyncore.dispatcher(map={})))
log(repr(asyncore.dispatcher_with_send(map={})))
log(repr(asynchat.async_chat(map={})))

lst = listener()
cl = socket.create_connection(lst.getsockname())
srv_side, _ = lst.accept()
d = asyncore.dispatcher(srv_side, map=m)
log(repr(d))
d.addr = "/tmp/some.sock"
log(repr(d))
d.addr = ("127.0.0.1", 1, 2)
log(repr(d))
d.addr = None
log(repr(d))
d.close()
cl.close()


class Outer:
    class Inner(asyncore.dispatcher):
        pass


srv = Outer.Inner(map=m)
srv.create_socket(socket.AF_INET, socket.SOCK_STREAM)
log("created:", repr(srv))
srv.bind(("127.0.0.1", 0))
log("bound:", repr(srv))
srv.listen(5)
log("listening:", repr(srv))
srv.addr = None
log("listening without addr:", repr(srv))
srv.close()
log("closed:", repr(srv))
lst.close()
