"""Flow control: a server streams 16 MiB to a client that reads slowly, and never holds more
than its high-water mark (plus one chunk) in memory, however slow the client.

    python docs/recipes/flow_control.py                (Python 3.12+)
    asyncore-ng run docs/recipes/flow_control.py       (any Python 3.8-3.13)

``ng_write_high_water`` turns flow control on: when the queued output grows past it,
``handle_output_full()`` is called; when it drains to ``ng_write_low_water`` (default: a
quarter of the high mark), ``handle_output_drained()``. Here the producer simply stops producing
in between. (A proxy stops *reading* the other side instead: ``pause_reading()``, see
examples/proxy.py.)
"""

import asyncore
import socket
import threading
import time

CHUNK = 64 * 1024
TOTAL = 16 * 1024 * 1024


class Streamer(asyncore.dispatcher_with_send):
    ng_write_high_water = 512 * 1024  # flow control on (off while None, the default)
    ng_write_low_water = 128 * 1024

    def __init__(self, sock):
        super().__init__(sock)
        self.produced = 0
        self.full = False
        self.peak = 0  # the most output ever queued in this process
        self.pauses = 0
        self.call_soon(self.produce)

    def produce(self):
        while not self.full and self.produced < TOTAL:
            self.send(b"x" * CHUNK)  # may call handle_output_full() before it returns
            self.produced += CHUNK
            self.peak = max(self.peak, len(self.out_buffer))
        if self.produced >= TOTAL and not self.out_buffer:
            self.close()

    def handle_output_full(self):
        self.full = True
        self.pauses += 1

    def handle_output_drained(self):
        self.full = False
        self.call_soon(self.produce)  # go on from the loop, not from inside send()

    def handle_write(self):
        super().handle_write()
        if self.produced >= TOTAL and not self.out_buffer:
            self.close()  # everything sent

    def handle_read(self):
        self.recv(4096)


class Server(asyncore.dispatcher):
    def __init__(self):
        super().__init__()
        self.create_socket(socket.AF_INET, socket.SOCK_STREAM)
        self.bind(("127.0.0.1", 0))
        self.listen()
        self.streamers = []

    def handle_accepted(self, sock, addr):
        self.streamers.append(Streamer(sock))
        self.close()  # one client is enough for the demo


def slow_client(address, counted):
    with socket.create_connection(address) as sock:
        while True:
            data = sock.recv(65536)
            if not data:
                break
            counted.append(len(data))
            time.sleep(0.0005)


server = Server()
counted = []
client = threading.Thread(target=slow_client, args=(server.socket.getsockname(), counted))
client.start()
asyncore.loop(timeout=1.0)
client.join()
streamer = server.streamers[0]
print(f"received {sum(counted)} bytes; paused {streamer.pauses} times; peak queued {streamer.peak}")
assert sum(counted) == TOTAL
assert streamer.peak <= Streamer.ng_write_high_water + CHUNK
