"""What the library's predicates return (values, not just truth): dispatcher,
dispatcher_with_send (nothing queued, queued, unconnected), async_chat (empty, queued,
unconnected), a listening dispatcher.
Issue: none (documented asyncore/asynchat predicates)."""

import asynchat
import asyncore
import socket

from _trace import log, pair

m = {}
a, b = pair()
d = asyncore.dispatcher(a, map=m)
log("dispatcher:", repr(d.readable()), repr(d.writable()))
d.close()

a, b2 = pair()
w = asyncore.dispatcher_with_send(a, map=m)
log("dispatcher_with_send, nothing queued:", repr(w.readable()), repr(w.writable()))
w.out_buffer = b"abc"
log("dispatcher_with_send, 3 bytes queued:", repr(w.writable()))
w.connected = False
log("dispatcher_with_send, unconnected:", repr(w.writable()))
w.close()

a, b3 = pair()
ch = asynchat.async_chat(a, map=m)
log("async_chat, empty:", repr(ch.readable()), repr(bool(ch.writable())), type(ch.writable()).__name__)
ch.connected = False
log("async_chat, unconnected:", repr(ch.writable()))
ch.close()

lst = asyncore.dispatcher(map=m)
lst.create_socket(socket.AF_INET, socket.SOCK_STREAM)
lst.bind(("127.0.0.1", 0))
lst.listen(1)
log("listening dispatcher:", repr(lst.readable()), repr(lst.writable()), "accepting", lst.accepting)
lst.close()
for s in (b, b2, b3):
    s.close()
