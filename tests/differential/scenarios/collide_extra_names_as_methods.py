"""A subclass defines methods of its own under names asyncore-ng adds (pause_reading,
resume_reading, interest_changed, call_soon, call_later, handle_output_full,
handle_output_drained, handle_idle_timeout, ...), each logging when called. The stdlib never
calls them: only the subclass does. The channel gets a large reply queued, then end of input
with the reply still queued (default handle_close), then is looped a few passes.
Issue: #8 name collisions (extra names as the subclass's own methods)."""

import asyncore

from _trace import log, pair

calls = []


def own(name):
    def method(self, *args):
        calls.append(name)

    method.__name__ = name
    return method


class Chan(asyncore.dispatcher_with_send):
    def handle_read(self):
        self.recv(100)


for _name in [
    "pause_reading",
    "resume_reading",
    "interest_changed",
    "call_soon",
    "call_later",
    "call_at",
    "set_idle_timeout",
    "handle_idle_timeout",
    "handle_output_full",
    "handle_output_drained",
]:
    setattr(Chan, _name, own(_name))

m = {}
a, b = pair()
c = Chan(a, m)
c.send(b"x" * (4 * 1024 * 1024))  # more than the socket takes: the rest stays queued
log("queued after send:", len(c.out_buffer) > 0)
asyncore.loop(timeout=1, map=m, count=2)
b.shutdown(1)  # end of input, the reply still queued
asyncore.loop(timeout=1, map=m, count=2)
log("library called the subclass's methods:", sorted(set(calls)))
log("map empty:", not m)
c.close()
b.close()
