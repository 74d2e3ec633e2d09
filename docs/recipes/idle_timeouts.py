"""Idle timeouts: an echo server that says goodbye to a client silent for 0.3 s and closes it.

    python docs/recipes/idle_timeouts.py                (Python 3.12+)
    asyncore-ng run docs/recipes/idle_timeouts.py       (any Python 3.8-3.13)

``set_idle_timeout(seconds)`` calls ``handle_idle_timeout()`` once no data has moved either way
for that long. Data moving only updates a timestamp (the one timer per channel is re-armed when
it fires), so the cost does not depend on the traffic. The default ``handle_idle_timeout`` logs
the reason on the ``asyncore_ng`` logger and calls ``handle_close()``; this one says why first.
"""

import asyncore
import socket
import time


class Echo(asyncore.dispatcher_with_send):
    def __init__(self, sock):
        super().__init__(sock)
        self.set_idle_timeout(0.3)

    def handle_read(self):
        data = self.recv(4096)
        if data:
            self.send(data)

    def handle_idle_timeout(self):
        self.send(b"idle for too long, bye\n")  # nothing else queued: straight to the kernel
        self.handle_close()  # an explicit handle_close() closes at once, as in the stdlib


class Server(asyncore.dispatcher):
    def __init__(self):
        super().__init__()
        self.create_socket(socket.AF_INET, socket.SOCK_STREAM)
        self.bind(("127.0.0.1", 0))
        self.listen()

    def handle_accepted(self, sock, addr):
        Echo(sock)
        self.close()  # one client is enough for the demo


server = Server()
with socket.create_connection(server.socket.getsockname()) as client:
    client.setblocking(False)
    started = time.monotonic()
    client.send(b"hello\n")
    received = b""
    while True:  # drive the loop and read until the server closes the connection
        asyncore.loop(timeout=0.05, count=1)
        try:
            data = client.recv(4096)
        except BlockingIOError:
            continue
        if not data:
            break
        received += data
    elapsed = time.monotonic() - started

print(repr(received), f"closed after {elapsed:.2f} s")
assert received == b"hello\nidle for too long, bye\n"
assert elapsed >= 0.3
asyncore.close_all()
