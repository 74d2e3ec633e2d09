"""loop() without count on a map whose channels all close (end of input): it returns, and
no descriptor is left open by the loop; with a plain dict and with the default socket_map,
under select and poll semantics.
Issue: #8 resources (loop() on a map that ends empty)."""

import asyncore
import gc

from _trace import log, open_fds, pair


class Chan(asyncore.dispatcher):
    def handle_read(self):
        if not self.recv(100):
            pass

    def writable(self):
        return False

    def handle_close(self):
        self.close()


for label in ("plain dict", "socket_map"):
    for use_poll in (False, True):
        before = open_fds()
        m = {} if label == "plain dict" else asyncore.socket_map
        pairs = [pair() for _ in range(3)]
        for a, b in pairs:
            Chan(a, m)
            b.send(b"bye")
            b.close()
        asyncore.loop(timeout=1, map=m, use_poll=use_poll)
        gc.collect()
        log(f"{label}, use_poll={use_poll}: map empty {not m}, descriptors left open: {open_fds() - before}")
