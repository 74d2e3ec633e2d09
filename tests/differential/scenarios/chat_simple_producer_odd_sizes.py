"""simple_producer with buffer sizes a program may pass by mistake: 0 and negative. What
more() returns and what .data holds after each call, as the stdlib's slicing gives them."""

import asynchat

from _trace import attempt, log

for size in (0, -1, -3, 4):
    p = asynchat.simple_producer(b"abcdefghij", size)
    for i in range(4):
        out = attempt(f"size {size}: more() #{i}", p.more)
        log(f"size {size}: data after #{i}", p.data)
