"""A subclass keeps its own object in self.logger (a class with a one-argument log(msg),
nothing to do with logging): log_info() and the default handle_error() must still print, as
the stdlib's do; the object's log() must only be called by the subclass itself.
Issue: #8 name collisions (self.logger)."""

import asyncore

from _trace import log, pair


class AuditLog:
    def __init__(self):
        self.entries = []

    def log(self, msg):
        self.entries.append(msg)


class Chan(asyncore.dispatcher):
    def __init__(self, sock, map):
        asyncore.dispatcher.__init__(self, sock, map=map)
        self.logger = AuditLog()

    def handle_read(self):
        data = self.recv(100)
        self.logger.log(data)
        raise ValueError("boom in handle_read")

    def handle_close(self):
        log("handle_close")
        self.close()


m = {}
a, b = pair()
c = Chan(a, m)
c.log_info("an info line")
c.log_info("an error line", "error")
c.log_info("a hidden warning", "warning")
b.send(b"data")
asyncore.loop(timeout=1, map=m, count=1)
log("audit log entries:", c.logger.entries)
log("map empty:", not m)
b.close()
