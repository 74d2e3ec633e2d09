"""The client/server exchange over AF_UNIX stream sockets (a path in a fresh temporary
directory): the listener's handle_accepted, the client's connect (which Unix sockets complete
at once), a message echoed, the ends closed, under select and poll semantics. Per pass, what
each channel saw (grouped by channel), and what the loop leaves in the map."""

import asyncore
import os
import shutil
import socket
import tempfile

from _trace import Recorder, log

ev = Recorder()


class Server(asyncore.dispatcher):
    def handle_accepted(self, sock, a):
        ev("server", "handle_accepted", type(sock).__name__, repr(a))
        Echo(sock, map=self.m)


class Echo(asyncore.dispatcher_with_send):
    def handle_read(self):
        data = self.recv(100)
        ev("echo", "handle_read", data)
        if data:
            self.send(data)

    def handle_close(self):
        ev("echo", "handle_close")
        self.close()


class Client(asyncore.dispatcher):
    def __init__(self, path, m):
        asyncore.dispatcher.__init__(self, map=m)
        self.create_socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.connect(path)
        self.buf = b"hello"

    def handle_connect(self):
        ev("client", "handle_connect")

    def writable(self):
        return bool(self.buf) or not self.connected

    def handle_write(self):
        n = self.send(self.buf)
        ev("client", "handle_write sent", n)
        self.buf = self.buf[n:]

    def handle_read(self):
        ev("client", "handle_read", self.recv(100))
        self.close()

    def handle_close(self):
        ev("client", "handle_close")
        self.close()


tmp = tempfile.mkdtemp()
try:
    for use_poll in (False, True):
        m = {}
        path = os.path.join(tmp, f"s{int(use_poll)}")
        server = Server(map=m)
        server.m = m
        server.create_socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(path)
        server.listen(5)
        log("use_poll", use_poll, "server accepting", server.accepting, "addr", os.path.basename(server.addr))
        client = Client(path, m)
        log("client connecting", client.connecting, "connected", client.connected)
        for i in range(8):
            asyncore.loop(timeout=1, map=m, count=1, use_poll=use_poll)
            ev.flush(f"pass {i}, map size {len(m)}")
            if len(m) == 1:
                break
        server.close()
        log("map empty", m == {})
finally:
    shutil.rmtree(tmp)
