"""Timers on the loop: a server that sends each client a tick every 50 ms (``call_every``), and a
client with a deadline (``call_later``) that disconnects after three ticks.

    python docs/recipes/timers.py                (Python 3.12+)
    asyncore-ng run docs/recipes/timers.py       (any Python 3.8-3.13)
"""

import asyncore
import socket


class Ticker(asyncore.dispatcher_with_send):
    """Sends ``tick N`` every 50 ms until the client goes away."""

    def __init__(self, sock):
        super().__init__(sock)
        self.count = 0
        # A repeating timer on the reactor that drives this channel's map.
        self.ticks = self.reactor.call_every(0.05, self.tick)

    def tick(self):
        self.count += 1
        self.send(b"tick %d\n" % self.count)

    def handle_read(self):
        self.recv(4096)  # nothing to answer; an empty read means the client is gone

    def handle_close(self):
        self.ticks.cancel()  # a timer outlives its channel unless cancelled
        self.close()


class Server(asyncore.dispatcher):
    def __init__(self):
        super().__init__()
        self.create_socket(socket.AF_INET, socket.SOCK_STREAM)
        self.bind(("127.0.0.1", 0))
        self.listen()

    def handle_accepted(self, sock, addr):
        Ticker(sock)


class Client(asyncore.dispatcher):
    """Reads three ticks, then closes; gives up after two seconds whatever happens."""

    def __init__(self, address, server):
        super().__init__()
        self.server = server
        self.received = b""
        self.create_socket(socket.AF_INET, socket.SOCK_STREAM)
        self.connect(address)
        self.deadline = self.call_later(2.0, self.give_up)  # a one-shot timer (a TimerHandle)

    def handle_connect(self):
        pass

    def writable(self):
        return False  # nothing to send (and no write event once connected)

    def handle_read(self):
        self.received += self.recv(4096)
        if self.received.count(b"\n") >= 3:
            self.finish()

    def give_up(self):
        print("no ticks in time")
        self.finish()

    def finish(self):
        self.deadline.cancel()
        self.close()
        self.server.close()  # the map empties once the server's side has closed too

    def handle_close(self):
        self.finish()


server = Server()
client = Client(server.socket.getsockname(), server)
asyncore.loop(timeout=1.0)
lines = client.received.decode().splitlines()
print(lines[:3])
assert lines[:3] == ["tick 1", "tick 2", "tick 3"]
