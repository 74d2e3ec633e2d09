"""loop(count=0) runs no pass; loop() on an empty map returns at once (any timeout, even
invalid ones, is not looked at); poll(), poll2() and poll3() on an empty map return None;
loop(count=-1) runs none; loop with count=3 runs three.
Issue: none (documented asyncore API: loop/poll edge cases)."""

import asyncore

from _trace import attempt, log, pair


class Chan(asyncore.dispatcher):
    reads = 0

    def handle_read(self):
        Chan.reads += 1
        self.recv(1)

    def writable(self):
        return False


attempt("loop(empty map)", asyncore.loop, timeout=0.01, map={})
attempt("loop(empty map, timeout=-1)", asyncore.loop, timeout=-1, map={})
attempt("loop(empty map, timeout='x', use_poll)", asyncore.loop, timeout="x", map={}, use_poll=True)
attempt("poll(empty)", asyncore.poll, 0.0, {})
attempt("poll(empty, -1)", asyncore.poll, -1, {})
attempt("poll2(empty)", asyncore.poll2, 0.0, {})
attempt("poll3(empty)", asyncore.poll3, 0.0, {})
attempt("poll(default empty map)", asyncore.poll)
attempt("loop(default empty map)", asyncore.loop, 0.01)

m = {}
a, b = pair()
c = Chan(a, m)
b.send(b"abcdefgh")
for count in (0, -1, 1, 3):
    Chan.reads = 0
    attempt(f"loop(count={count})", asyncore.loop, timeout=0.01, map=m, count=count)
    log("  reads:", Chan.reads)
c.close()
b.close()
