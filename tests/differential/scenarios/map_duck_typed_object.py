"""A map entry that is not a dispatcher at all: a plain object with the methods loop() calls
(readable, writable, handle_read_event, handle_write_event, handle_expt_event, handle_close,
handle_error, and the accepting attribute), keyed by the descriptor of one end of a
socketpair. Data and an end of input arrive; under select and poll semantics the object
sees the same calls as in the stdlib, and a handler that raises goes to its handle_error."""

import asyncore

from _trace import log, pair


class Duck:
    accepting = False  # (the stdlib's select pass reads it: without it, an AttributeError)

    def __init__(self, sock, label):
        self.sock = sock
        self.sock.setblocking(False)
        self.label = label
        self.want_write = True

    def readable(self):
        return True

    def writable(self):
        return self.want_write

    def handle_read_event(self):
        data = self.sock.recv(100)
        log(self.label, "read", data)
        if data == b"boom":
            raise ValueError("boom")
        if not data:
            del m[self.sock.fileno()]

    def handle_write_event(self):
        log(self.label, "write")
        self.want_write = False

    def handle_expt_event(self):
        log(self.label, "expt")

    def handle_close(self):
        log(self.label, "handle_close")

    def handle_error(self):
        log(self.label, "handle_error", repr(__import__("sys").exc_info()[1]))


for use_poll in (False, True):
    m = {}
    a, b = pair()
    duck = Duck(a, "poll" if use_poll else "select")
    m[a.fileno()] = duck
    b.send(b"hello")
    asyncore.loop(timeout=0.01, map=m, count=2, use_poll=use_poll)
    b.send(b"boom")
    asyncore.loop(timeout=0.01, map=m, count=1, use_poll=use_poll)
    b.close()
    asyncore.loop(timeout=0.01, map=m, count=3, use_poll=use_poll)
    log("map empty:", not m)
    a.close()
