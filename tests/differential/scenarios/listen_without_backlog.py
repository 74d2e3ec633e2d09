"""dispatcher.listen() called without its backlog argument: the stdlib requires it
(TypeError); asyncore-ng defaults it to SOMAXCONN (documented in docs/compat.md). With an
argument both listen and accept.
Issue: none (documented difference: listen(num))."""

import asyncore
import socket

from _trace import exc, log

for args in ((), (5,)):
    d = asyncore.dispatcher(map={})
    d.create_socket(socket.AF_INET, socket.SOCK_STREAM)
    d.bind(("127.0.0.1", 0))
    try:
        d.listen(*args)
        log(f"listen{args}: listening, accepting {d.accepting}")
    except TypeError as e:
        log(f"listen{args}: raised {exc(e)}")
    d.close()
