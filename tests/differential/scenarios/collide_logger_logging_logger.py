"""A subclass keeps a logging.Logger of its own in self.logger (for its own messages):
log_info() and handle_error() must still print to standard output as in the stdlib, and
nothing of the library's must reach that logger.
Issue: #8 name collisions (self.logger as a logging.Logger)."""

import asyncore
import logging

from _trace import log, pair


class Show(logging.Handler):
    def emit(self, record):
        log(f"APP LOGGER {record.levelname}: {record.getMessage()}")


app = logging.getLogger("myapp")
app.addHandler(Show())
app.setLevel(logging.DEBUG)
app.propagate = False


class Chan(asyncore.dispatcher):
    def __init__(self, sock, map):
        asyncore.dispatcher.__init__(self, sock, map=map)
        self.logger = app

    def handle_read(self):
        data = self.recv(100)
        self.logger.info("app got %r", data)
        raise KeyError("boom")

    def handle_close(self):
        log("handle_close")
        self.close()


m = {}
a, b = pair()
c = Chan(a, m)
c.log_info("info via log_info")
c.log_info("error via log_info", "error")
c.log_info("warning via log_info (ignored type)", "warning")
c.log_info("custom type", "custom")
b.send(b"x")
asyncore.loop(timeout=1, map=m, count=1)
log("map empty:", not m)
b.close()
