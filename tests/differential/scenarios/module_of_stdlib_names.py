"""Where the stdlib's names say they come from: __module__ of ExitNow and of the module-level
functions (a pickle names them so; an uncaught ExitNow prints it in its traceback), and the
line an uncaught ExitNow prints."""

import asynchat
import asyncore
import pickle

from _trace import log

NAMES = ("ExitNow", "read", "write", "readwrite", "compact_traceback")
NAMES += ("dispatcher", "loop", "poll", "close_all")
for name in NAMES:
    log("asyncore." + name, getattr(asyncore, name).__module__)
for name in ("find_prefix_at_end", "async_chat", "simple_producer"):
    log("asynchat." + name, getattr(asynchat, name).__module__)
log("pickled ExitNow round trip", type(pickle.loads(pickle.dumps(asyncore.ExitNow("x")))) is asyncore.ExitNow)
pickled = pickle.dumps(asyncore.ExitNow("x"))
log("pickle names", b"asyncore" in pickled, b"asyncore_ng" in pickled)
raise asyncore.ExitNow("bye")
