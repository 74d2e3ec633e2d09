"""asyncore.socket replaced at run time by a fake module whose socket() returns a wrapper
object (as test doubles and some compatibility layers do): create_socket() must use it,
since the stdlib looks up the module global at call time.
Issue: #8 module globals patched at run time (asyncore.socket)."""

import asyncore
import socket as real_socket

from _trace import log


class FakeSock:
    def __init__(self, family, type):
        self._s = real_socket.socket(family, type)
        log("fake socket() created", family == real_socket.AF_INET, type == real_socket.SOCK_STREAM)

    def __getattr__(self, name):
        return getattr(self._s, name)


class FakeModule:
    def __getattr__(self, name):
        return getattr(real_socket, name)

    def socket(self, family=real_socket.AF_INET, type=real_socket.SOCK_STREAM):
        return FakeSock(family, type)


saved = asyncore.socket
asyncore.socket = FakeModule()
try:
    d = asyncore.dispatcher(map={})
    d.create_socket()
    log("socket type:", type(d.socket).__name__, "family_and_type set:", hasattr(d, "family_and_type"))
    d.close()
finally:
    asyncore.socket = saved
log("done")
