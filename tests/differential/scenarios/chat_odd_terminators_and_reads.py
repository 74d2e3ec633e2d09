"""async_chat fed odd terminators (a float, a list, an object, a negative count set on the
attribute, a str without use_encoding) and a recv() stand-in returning odd things (None, an
int, a str): what reaches handle_error, with which message, and what is left."""

import asynchat
import asyncore
import sys

from _trace import exc, log, pair


class Chat(asynchat.async_chat):
    def __init__(self, sock, map, term):
        asynchat.async_chat.__init__(self, sock, map)
        self.terminator = term  # set as the attribute, bypassing set_terminator's check
        self.got = []

    def collect_incoming_data(self, data):
        self.got.append(data)

    def found_terminator(self):
        log("  found_terminator")

    def handle_error(self):
        log("  handle_error:", exc(sys.exc_info()[1]))
        self.close()


for term in (1.5, [b"x"], object(), -2, "\n", b""):
    m = {}
    a, b = pair()
    c = Chat(a, m, term)
    b.send(b"some input\n")
    shown = repr(term) if isinstance(term, (int, float, str, bytes, list)) else ""
    log(f"terminator {type(term).__name__} {shown}".rstrip())
    asyncore.loop(timeout=0.01, map=m, count=1)
    log("  collected", c.got, "in map", bool(m))
    if m:
        c.close()
    b.close()


class OddRecv(Chat):
    def recv(self, n):
        return self.odd


for odd in (None, 5, "text", bytearray(b"ba\n")):
    m = {}
    a, b = pair()
    c = OddRecv(a, m, b"\n")
    c.odd = odd
    b.send(b"x")
    log(f"recv -> {odd!r}")
    asyncore.loop(timeout=0.01, map=m, count=1)
    log("  collected", c.got, "in map", bool(m))
    if m:
        c.close()
    b.close()
