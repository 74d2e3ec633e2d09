"""A subclass has a method interest_changed() of its own (say, a hook of its application);
the library must never call it: connecting, listening, sending and closing in the stdlib do
not. Also as a plain attribute (a list).
Issue: #8 name collisions (interest_changed)."""

import asyncore
import socket

from _trace import exc, listener, log, pair

calls = []


class Chan(asyncore.dispatcher_with_send):
    def interest_changed(self):
        calls.append("interest_changed")

    def handle_read(self):
        log("handle_read", self.recv(100))

    def handle_close(self):
        log("handle_close")
        self.close()


m = {}
a, b = pair()
c = Chan(a, m)
c.send(b"x")
b.send(b"y")
asyncore.loop(timeout=1, map=m, count=1)
b.close()
asyncore.loop(timeout=1, map=m, count=1)
log("method calls by the library:", len(calls))

calls.clear()
lst = listener()
srv = Chan(map=m)
srv.create_socket(socket.AF_INET, socket.SOCK_STREAM)
srv.bind(("127.0.0.1", 0))
srv.listen(5)
cl = Chan(map=m)
cl.create_socket(socket.AF_INET, socket.SOCK_STREAM)
cl.connect(lst.getsockname())
srv.close()
cl.close()
lst.close()
log("method calls by the library (listen/connect/close):", len(calls))


class Attr(asyncore.dispatcher_with_send):
    def __init__(self, sock, map):
        asyncore.dispatcher_with_send.__init__(self, sock, map=map)
        self.interest_changed = ["mine"]

    def handle_read(self):
        log("Attr handle_read", self.recv(100))
        self.send(b"reply")


a, b = pair()
try:
    d = Attr(a, m)
    b.send(b"z")
    asyncore.loop(timeout=1, map=m, count=2)
    log("peer got", b.recv(100), "attribute", d.interest_changed)
    d.close()
except Exception as e:
    log("raised", exc(e))
b.close()
