"""select.select and select.poll wrapped by tracing functions (as some test suites and
gevent-style monkey patches do): the stdlib's poll() calls select.select(r, w, e, timeout)
once per pass; poll2() creates a select.poll() object once per pass.
Issue: #8 module globals patched at run time (select.select)."""

import asyncore
import select

from _trace import log, pair

orig_select, orig_poll = select.select, select.poll


def traced_select(r, w, e, timeout=None):
    log(f"select.select({len(r)} readers, {len(w)} writers, {len(e)} exceptional, timeout={timeout!r})")
    return orig_select(r, w, e, timeout)


def traced_poll():
    log("select.poll()")
    return orig_poll()


class Chan(asyncore.dispatcher):
    def handle_read(self):
        log("handle_read", self.recv(100))

    def writable(self):
        return False


m = {}
a, b = pair()
c = Chan(a, m)
select.select, select.poll = traced_select, traced_poll
try:
    b.send(b"1")
    asyncore.loop(timeout=0.01, map=m, count=2)
    b.send(b"2")
    asyncore.loop(timeout=0.01, map=m, count=2, use_poll=True)
finally:
    select.select, select.poll = orig_select, orig_poll
c.close()
b.close()
