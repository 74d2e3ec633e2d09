"""A dispatcher_with_send subclass has class attributes write_high_water/write_low_water and
methods handle_output_full/handle_output_drained of its own meaning; it sends more than the
socket takes at once. The stdlib never calls those methods.
Issue: #8 name collisions (write_high_water, handle_output_full, ...)."""

import asyncore

from _trace import drain, log, pair

calls = []


class Chan(asyncore.dispatcher_with_send):
    write_high_water = 4  # "warn when more than 4 clients wait", say
    write_low_water = 1

    def handle_output_full(self):
        calls.append("handle_output_full")

    def handle_output_drained(self):
        calls.append("handle_output_drained")


m = {}
a, b = pair()
c = Chan(a, m)
c.send(b"x" * (2 * 1024 * 1024))
for _ in range(200):
    drain(b)
    asyncore.loop(timeout=1, map=m, count=1)
    if not c.out_buffer:
        break
drain(b)
log("all sent:", not c.out_buffer)
log("calls by the library:", calls)
c.close()
b.close()
