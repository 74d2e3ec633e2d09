"""The asyncore documentation's basic echo server, unchanged in spirit.

    python examples/echo_server.py [HOST [PORT]]      (default: 127.0.0.1 8080)

A listening ``dispatcher`` hands each incoming connection to an ``EchoHandler``, a
``dispatcher_with_send`` that sends back whatever it reads. Port 0 picks a free port; the
first line printed is ``listening on HOST:PORT``. Stop it with Ctrl-C.

On Python 3.12+ with asyncore-ng installed, ``import asyncore`` finds asyncore-ng's module.
On 3.8-3.11 the standard library's would win: run it as
``python -m asyncore_ng run examples/echo_server.py``, or call ``asyncore_ng.install()`` first.
"""

import asyncore
import socket
import sys


class EchoHandler(asyncore.dispatcher_with_send):
    def handle_read(self):
        data = self.recv(8192)
        if data:
            self.send(data)


class EchoServer(asyncore.dispatcher):
    def __init__(self, host, port):
        asyncore.dispatcher.__init__(self)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.create_socket(family, socket.SOCK_STREAM)
        self.set_reuse_addr()
        self.bind((host, port))
        self.listen(socket.SOMAXCONN)

    def handle_accepted(self, sock, addr):
        print(f"Incoming connection from {addr!r}", flush=True)
        EchoHandler(sock)


def main(argv):
    host = argv[1] if len(argv) > 1 else "127.0.0.1"
    port = int(argv[2]) if len(argv) > 2 else 8080
    server = EchoServer(host, port)
    print(f"listening on {host}:{server.socket.getsockname()[1]}", flush=True)
    try:
        asyncore.loop()
    except KeyboardInterrupt:
        pass
    finally:
        asyncore.close_all()


if __name__ == "__main__":
    main(sys.argv)
