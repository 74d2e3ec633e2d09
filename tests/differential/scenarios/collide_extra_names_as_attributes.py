"""A subclass stores its own data under names that asyncore-ng adds to dispatchers
(README "Using it", docs/compat.md extras): each is assigned as a plain instance attribute in
__init__, then the channel echoes a message and closes at end of input. In the stdlib these
are ordinary attribute names: every assignment works and nothing else changes.
Issue: #8 name collisions (extra names as plain attributes)."""

import asyncore

from _trace import exc, log, pair

NAMES = [
    "reactor",
    "reading_paused",
    "pause_reading",
    "resume_reading",
    "interest_changed",
    "call_later",
    "call_at",
    "call_soon",
    "set_idle_timeout",
    "handle_idle_timeout",
    "write_high_water",
    "write_low_water",
    "handle_output_full",
    "handle_output_drained",
    "send_chunk_size",
    "accept_backoff_initial",
    "accept_backoff_max",
]


class Chan(asyncore.dispatcher_with_send):
    def __init__(self, sock, map):
        asyncore.dispatcher_with_send.__init__(self, sock, map=map)
        for i, name in enumerate(NAMES):
            try:
                setattr(self, name, f"user value {i}")
            except Exception as e:
                log(f"assigning self.{name}: {exc(e)}")

    def handle_read(self):
        data = self.recv(100)
        log("handle_read", data)
        if data:
            self.send(data.upper())

    def handle_close(self):
        log("handle_close")
        self.close()


m = {}
a, b = pair()
try:
    c = Chan(a, m)
except Exception as e:
    log("constructing:", exc(e))
else:
    for name in NAMES:
        v = getattr(c, name, None)
        if v != f"user value {NAMES.index(name)}":
            log(f"self.{name} reads back as {type(v).__name__}")
    b.send(b"ping")
    b.shutdown(1)
    for _ in range(4):
        try:
            asyncore.loop(timeout=1, map=m, count=1)
        except Exception as e:
            log("loop raised", exc(e))
            break
    log("peer got", b.recv(100))
    log("map empty:", not m)
    c.close()
b.close()
