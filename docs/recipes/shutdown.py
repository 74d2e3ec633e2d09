"""Graceful shutdown: SIGTERM (or Ctrl-C) stops the loop, the server stops accepting, replies
already queued still reach their clients (for at most a few seconds), then everything closes.

    python docs/recipes/shutdown.py                (Python 3.12+)
    asyncore-ng run docs/recipes/shutdown.py       (any Python 3.8-3.13)

To show it, the program asks for a 4 MiB reply from a slow client and sends itself SIGTERM while
that reply is still queued.
"""

import asyncore
import os
import signal
import socket
import threading
import time

import asyncore_ng

REPLY = bytes(range(256)) * 16384  # 4 MiB


class Handler(asyncore.dispatcher_with_send):
    def handle_read(self):
        if self.recv(4096):
            self.send(REPLY)


class Server(asyncore.dispatcher):
    def __init__(self):
        super().__init__()
        self.create_socket(socket.AF_INET, socket.SOCK_STREAM)
        self.bind(("127.0.0.1", 0))
        self.listen()

    def handle_accepted(self, sock, addr):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)  # (for the demo: small kernel
        Handler(sock)  # buffers, so that most of the reply waits in out_buffer)


def slow_client(address, received):
    with socket.create_connection(address) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.sendall(b"please\n")
        while True:
            data = sock.recv(65536)
            if not data:
                break  # the server closed after the whole reply
            received.append(data)
            time.sleep(0.002)


server = Server()
reactor = asyncore_ng.get_reactor()


def stop(signum, frame):
    reactor.stop()  # safe in a signal handler: loop() returns after its current pass


signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)

received = []
client = threading.Thread(target=slow_client, args=(server.socket.getsockname(), received))
client.start()
reactor.call_later(0.1, os.kill, os.getpid(), signal.SIGTERM)  # the demo's "operator"

asyncore.loop(timeout=30.0)

# Stopped. No new connections; what is queued may still go out, for at most 5 seconds.
server.close()
queued = sum(len(ch.out_buffer) for ch in asyncore.socket_map.values())
print(f"stopped with {queued} bytes still queued")
deadline = time.monotonic() + 5.0
while time.monotonic() < deadline and any(ch.out_buffer for ch in asyncore.socket_map.values()):
    asyncore.loop(timeout=0.1, count=1)
asyncore.close_all()
client.join()
print(f"the client received {sum(map(len, received))} bytes")
assert b"".join(received) == REPLY
