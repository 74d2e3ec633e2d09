"""file_dispatcher over a pipe: the descriptor is duplicated (the original stays open), reads
come through handle_read, end of input (writer closed) closes it; file_wrapper's
getsockopt, recv/send/read/write aliases, and close twice.
Issue: none (documented asyncore API: file_dispatcher, file_wrapper)."""

import asyncore
import os
import socket

from _trace import exc, log


class Reader(asyncore.file_dispatcher):
    def handle_read(self):
        log("handle_read", self.recv(100))

    def writable(self):
        return False

    def handle_close(self):
        log("handle_close")
        self.close()


r, w = os.pipe()
m = {}
d = Reader(r, map=m)
log("duplicated:", d._fileno != r, "connected:", d.connected, "blocking:", os.get_blocking(r))
os.write(w, b"through the pipe")
asyncore.loop(timeout=1, map=m, count=1)
os.close(w)
asyncore.loop(timeout=1, map=m, count=2)
log("in map", bool(m))
os.fstat(r)
log("original descriptor still open")
os.close(r)

r, w = os.pipe()
fw = asyncore.file_wrapper(w)
log("getsockopt SO_ERROR:", fw.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR))
try:
    fw.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)
except Exception as e:
    log("getsockopt other:", exc(e))
log("send:", fw.send(b"ab"), "write:", fw.write(b"cd"))
os.close(w)
rw = asyncore.file_wrapper(r)
log("recv:", rw.recv(2), "read:", rw.read(10))
log(
    "aliases:",
    asyncore.file_wrapper.read is asyncore.file_wrapper.recv,
    asyncore.file_wrapper.write is asyncore.file_wrapper.send,
)
for x in (fw, rw):
    x.close()
    x.close()
    log("fileno after close:", x.fileno())
os.close(r)
