"""A legacy asyncore/asynchat program, written as for Python 2.x-3.11: plain ``import asyncore``
and ``import asynchat``, nothing from asyncore-ng. scripts/wheel_check.py runs it against the
installed wheel (directly on 3.12+, through ``asyncore-ng run`` on 3.8-3.11).

An echo server (``dispatcher_with_send``) and a loopback client (``async_chat``) share one
``asyncore.loop()``; the client sends a line and waits for it to come back. It prints one JSON
line (which modules it got, what came back) and exits 0 if the echo was right.
"""

import asynchat
import asyncore
import json
import socket
import sys
import time

MESSAGE = b"hello from a legacy client"


class EchoHandler(asyncore.dispatcher_with_send):
    def handle_read(self):
        data = self.recv(8192)
        if data:
            self.send(data)


class EchoServer(asyncore.dispatcher):
    def __init__(self):
        asyncore.dispatcher.__init__(self)
        self.create_socket(socket.AF_INET, socket.SOCK_STREAM)
        self.set_reuse_addr()
        self.bind(("127.0.0.1", 0))
        self.listen(5)

    def handle_accept(self):
        pair = self.accept()
        if pair is not None:
            EchoHandler(pair[0])


class Client(asynchat.async_chat):
    def __init__(self, port):
        asynchat.async_chat.__init__(self)
        self.create_socket(socket.AF_INET, socket.SOCK_STREAM)
        self.connect(("127.0.0.1", port))
        self.set_terminator(b"\n")
        self.parts = []
        self.echoed = None
        self.push(MESSAGE + b"\n")

    def collect_incoming_data(self, data):
        self.parts.append(data)

    def found_terminator(self):
        self.echoed = b"".join(self.parts)
        self.close()


def main():
    server = EchoServer()
    client = Client(server.socket.getsockname()[1])
    deadline = time.time() + 10
    while client.echoed is None and time.time() < deadline:
        asyncore.loop(timeout=0.1, count=1)
    asyncore.close_all()
    print(
        json.dumps(
            {
                "asyncore": asyncore.__file__,
                "asynchat": asynchat.__file__,
                "asyncore_ng": [
                    getattr(asyncore, "__asyncore_ng__", False),
                    getattr(asynchat, "__asyncore_ng__", False),
                ],
                "echoed": None if client.echoed is None else client.echoed.decode(),
                "python": sys.version.split()[0],
            }
        )
    )
    return 0 if client.echoed == MESSAGE else 1


if __name__ == "__main__":
    sys.exit(main())
