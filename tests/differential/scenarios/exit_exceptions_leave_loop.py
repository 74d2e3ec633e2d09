"""ExitNow, KeyboardInterrupt and SystemExit raised in a handler leave loop() (they are not
given to handle_error); the map is intact and a later loop() carries on serving.
Issue: none (documented asyncore behaviour: ExitNow)."""

import asyncore

from _trace import exc, log, pair


class Chan(asyncore.dispatcher):
    to_raise = []

    def handle_read(self):
        data = self.recv(1)
        log("  handle_read", data)
        if self.to_raise:
            raise self.to_raise.pop(0)

    def writable(self):
        return False

    def handle_error(self):
        log("  handle_error")


for use_poll in (False, True):
    m = {}
    a, b = pair()
    c = Chan(a, m)
    Chan.to_raise = [asyncore.ExitNow("stop"), KeyboardInterrupt(), SystemExit(2), ValueError("v")]
    b.send(b"abcdef")
    for i in range(5):
        try:
            asyncore.loop(timeout=1, map=m, count=1, use_poll=use_poll)
            log(f"use_poll={use_poll} pass {i}: returned, in map {bool(m)}")
        except BaseException as e:
            log(f"use_poll={use_poll} pass {i}: raised {exc(e)}, in map {bool(m)}")
    c.close()
    b.close()
