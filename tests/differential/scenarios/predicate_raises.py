"""readable() or writable() raising: the stdlib calls predicates outside the handlers'
error boundary, so the exception leaves loop() (not handle_error); the next loop() asks again.
Issue: none (documented asyncore behaviour: predicates)."""

import asyncore

from _trace import exc, log, pair


class Chan(asyncore.dispatcher):
    fail_readable = 1
    fail_writable = 1

    def readable(self):
        if self.fail_readable:
            self.fail_readable -= 1
            raise ValueError("readable failed")
        return True

    def writable(self):
        if self.fail_writable:
            self.fail_writable -= 1
            raise LookupError("writable failed")
        return False

    def handle_read(self):
        log("  handle_read", self.recv(10))

    def handle_error(self):
        log("  handle_error")


for use_poll in (False, True):
    m = {}
    a, b = pair()
    c = Chan(a, m)
    b.send(b"x")
    for i in range(3):
        try:
            asyncore.loop(timeout=0.01, map=m, count=1, use_poll=use_poll)
            log(f"use_poll={use_poll} pass {i}: returned")
        except Exception as e:
            log(f"use_poll={use_poll} pass {i}: raised {exc(e)}")
    c.close()
    b.close()
