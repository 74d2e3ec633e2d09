"""A handle_error that itself raises: the exception leaves loop(); the channel stays in the
map; the next loop() serves it again.
Issue: none (documented asyncore behaviour: handle_error)."""

import asyncore

from _trace import exc, log, pair


class Chan(asyncore.dispatcher):
    def handle_read(self):
        data = self.recv(1)
        log("  handle_read", data)
        if data == b"a":
            raise ValueError("first")

    def handle_error(self):
        log("  handle_error")
        raise RuntimeError("handle_error failed")

    def writable(self):
        return False


m = {}
a, b = pair()
c = Chan(a, m)
b.send(b"ab")
for i in range(2):
    try:
        asyncore.loop(timeout=0.01, map=m, count=1)
        log(f"pass {i}: returned, in map {bool(m)}")
    except Exception as e:
        log(f"pass {i}: raised {exc(e)}, in map {bool(m)}")
c.close()
b.close()
