"""loop(timeout=True, count=1) with input already waiting: the stdlib's select() returns at
once (True is a timeout of 1 second, an upper bound); the input is dispatched without
waiting. The same for poll semantics. And poll2() with an empty map and an invalid timeout:
the stdlib converts the timeout first, so it raises."""

import asyncore
import time

from _trace import attempt, log, pair


class Chan(asyncore.dispatcher):
    def handle_read(self):
        log("read", self.recv(100))

    def writable(self):
        return False


for use_poll in (False, True):
    m = {}
    a, b = pair()
    Chan(a, m)
    b.send(b"waiting")
    started = time.monotonic()
    asyncore.loop(timeout=True, use_poll=use_poll, map=m, count=1)
    log(f"use_poll={use_poll}: returned within half a second:", time.monotonic() - started < 0.5)
    asyncore.close_all(m)
    b.close()

for bad in ("soon", [1], object()):
    attempt(f"poll2({type(bad).__name__}, {{}})", asyncore.poll2, bad, {})
    attempt(f"poll({type(bad).__name__}, {{}})", asyncore.poll, bad, {})
