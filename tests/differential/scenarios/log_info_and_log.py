"""log() writes "log: MSG" to stderr; log_info() prints "TYPE: MSG" unless TYPE is in
ignore_log_types (default: {'warning'}); per-instance and per-class ignore_log_types."""

import asyncore

from _trace import log

d = asyncore.dispatcher(map={})
d.log("hello log")
d.log(b"bytes message")
d.log(12345)
d.log_info("hello")
d.log_info("a warning", "warning")
d.log_info("an error", "error")
d.log_info("custom type", "custom")
log("default ignore_log_types:", sorted(d.ignore_log_types))
d.ignore_log_types = frozenset()
d.log_info("now a warning shows", "warning")
d.ignore_log_types = {"info", "error"}
d.log_info("info hidden")
d.log_info("error hidden", "error")
d.log_info("warning shown", "warning")


class Quiet(asyncore.dispatcher):
    ignore_log_types = frozenset({"info", "warning", "error"})


q = Quiet(map={})
q.log_info("hidden")
q.log_info("hidden too", "error")
q.log_info("shown", "other")
q.handle_read()
q.handle_write()
q.handle_expt()
q.handle_connect()
log("done")
