"""connect() to a loopback port that refuses (a bound socket that does not listen): the
refusal reaches the default handle_error (printed: the OSError, the scenario's frames), which
closes the channel; under select and poll semantics. A handle_connect override never runs.
Issue: none (documented asyncore behaviour: connect refused)."""

import asyncore
import socket

from _trace import exc, log, refused_address


class Client(asyncore.dispatcher):
    def handle_connect(self):
        log("  handle_connect (should not run)")

    def handle_close(self):
        log("  handle_close")
        self.close()


blocker, address = refused_address()
for use_poll in (False, True):
    m = {}
    c = Client(map=m)
    c.create_socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        c.connect(address)
        log(f"use_poll={use_poll}: connect() returned, connecting {c.connecting}")
    except OSError as e:
        log(f"use_poll={use_poll}: connect() raised {exc(e)}")
    asyncore.loop(timeout=1, map=m, count=2, use_poll=use_poll)
    log(f"use_poll={use_poll}: in map {bool(m)} connected {c.connected}")
    c.close()
blocker.close()
