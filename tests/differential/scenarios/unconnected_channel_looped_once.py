"""A channel whose socket was created (create_socket) but never connected nor bound, looped
once under select and under poll semantics: which handlers run (an unconnected TCP socket
polls as writable and hung up).
Issue: #14 (a channel created but not yet connected, looped once)."""

import asyncore
import socket

from _trace import log


class Chan(asyncore.dispatcher):
    def handle_read(self):
        log("  handle_read")

    def handle_write(self):
        log("  handle_write")

    def handle_expt(self):
        log("  handle_expt")

    def handle_connect(self):
        log("  handle_connect")

    def handle_close(self):
        log("  handle_close")
        self.close()


for use_poll in (False, True):
    m = {}
    c = Chan(map=m)
    c.create_socket(socket.AF_INET, socket.SOCK_STREAM)
    log(f"use_poll={use_poll}: connected {c.connected} connecting {c.connecting}")
    asyncore.loop(timeout=0.01, map=m, count=1, use_poll=use_poll)
    log(f"use_poll={use_poll}: in map {bool(m)}")
    c.close()
