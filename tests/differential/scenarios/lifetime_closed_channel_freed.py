"""With the cyclic collector off, a channel is freed by reference counting as soon as the
program lets go of it after close(), close_all(), del_channel() or a close inside its own
handler, under both semantics; a makefile() reader it held then lets the connection end, so
the peer reads the end of input at once."""

import asyncore
import gc
import weakref

from _trace import log, pair

gc.disable()


class Chan(asyncore.dispatcher_with_send):
    def __init__(self, sock, map):
        asyncore.dispatcher_with_send.__init__(self, sock, map)
        self.reader = self.socket.makefile("rb")

    def handle_read(self):
        if self.recv(100) == b"bye":
            self.close()


for use_poll in (False, True):
    for how in ("close", "close_all", "del_channel", "in handler"):
        m = {}
        keep, keep_peer = pair()
        asyncore.dispatcher(keep, m)  # another channel: the map does not end empty
        a, b = pair()
        c = Chan(a, m)
        c.send(b"hello")
        asyncore.loop(timeout=0.01, use_poll=use_poll, map=m, count=2)
        ref = weakref.ref(c)
        if how == "close":
            c.close()
        elif how == "close_all":
            asyncore.close_all(m)
        elif how == "del_channel":
            c.del_channel()
            c.socket.close()
        else:
            b.send(b"bye")
            asyncore.loop(timeout=0.01, use_poll=use_poll, map=m, count=2)
        del c
        b.settimeout(2)
        got = b.recv(100)
        tail = b.recv(100) if got else b""
        log(f"use_poll={use_poll} {how}: freed {ref() is None}, peer read {got!r} then {tail!r}")
        asyncore.close_all(m)
        b.close()
        keep_peer.close()
