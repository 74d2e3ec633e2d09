"""A client dispatcher connects to a listener dispatcher on loopback: handle_accepted gets
the socket, handle_connect runs, the client sends, the server echoes, the client closes on
the echo. Per pass, what each channel saw (grouped by channel, see _trace.Recorder), and
what the loop leaves in the map."""

import asyncore
import socket

from _trace import Recorder, addr, log

m = {}
ev = Recorder()


class Server(asyncore.dispatcher):
    def handle_accepted(self, sock, a):
        ev("server", "handle_accepted", type(sock).__name__, a[0])
        self.echo = Echo(sock, map=m)


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
    def __init__(self, address):
        asyncore.dispatcher.__init__(self, map=m)
        self.create_socket(socket.AF_INET, socket.SOCK_STREAM)
        self.connect(address)
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
        data = self.recv(100)
        ev("client", "handle_read", data)
        self.close()

    def handle_close(self):
        ev("client", "handle_close")
        self.close()


def who(v):
    return {server: "server", client: "client"}.get(v, "echo")


server = Server(map=m)
server.create_socket(socket.AF_INET, socket.SOCK_STREAM)
server.set_reuse_addr()
server.bind(("127.0.0.1", 0))
server.listen(5)
log("server repr", repr(server).replace(hex(id(server)), "ID"))
log("server accepting", server.accepting, "addr", addr(server.addr))
client = Client(server.socket.getsockname())
log("client connecting", client.connecting, "connected", client.connected)
for i in range(8):
    asyncore.loop(timeout=1, map=m, count=1)
    ev.flush(f"pass {i}, map: {sorted(who(v) for v in m.values())}")
    if client.socket is None or client._fileno is None:
        break
log("client connected", client.connected, "connecting", client.connecting)
server.close()
for ch in list(m.values()):
    ch.close()
log("map empty", m == {})
