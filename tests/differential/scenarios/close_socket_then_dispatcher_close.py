"""The socket object itself closed (d.socket.close(), as a worker thread might) and then
dispatcher.close() called, after the channel was looped: the stdlib is silent (both closes
succeed; nothing logged or printed), and loop() then returns at once on the empty map. Any
warning of the engine's logger shows in this trace.
Issue: #14 (closing the socket object, then dispatcher.close())."""

import asyncore

from _trace import exc, log, pair


class Chan(asyncore.dispatcher):
    def handle_read(self):
        log("handle_read", self.recv(100))

    def writable(self):
        return False

    def handle_close(self):
        log("handle_close")
        self.close()


for use_poll in (False, True):
    m = {}
    a, b = pair()
    c = Chan(a, m)
    b.send(b"x")
    asyncore.loop(timeout=0.01, map=m, count=1, use_poll=use_poll)
    c.socket.close()
    try:
        c.close()
        log("close() returned")
    except Exception as e:
        log("close() raised", exc(e))
    log("in map", bool(m))
    asyncore.loop(timeout=0.01, map=m, count=2, use_poll=use_poll)
    b.close()
log("done")
