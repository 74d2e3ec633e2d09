"""Bulk input: the classic echo handler (``recv(8192)``, ``send``), 8 MiB through it, once as
the stdlib would run it and once with ``ng_bulk_input = True``.

    python docs/recipes/bulk_input.py                (Python 3.12+)
    asyncore-ng run docs/recipes/bulk_input.py       (any Python 3.8-3.13)

With bulk input a channel whose reads come back full reads up to 256 KiB ahead in one system
call, the loop hands that input to ``handle_read`` in a burst of calls within one pass, and the
replies of the burst leave in one system call. The bytes and their order are the same; what a
program can see is several ``handle_read`` calls in one loop pass.
"""

import asyncore
import socket
import threading

import asyncore_ng

PAYLOAD = bytes(range(256)) * 32768  # 8 MiB


class Echo(asyncore.dispatcher_with_send):
    reads = 0

    def handle_read(self):
        data = self.recv(8192)
        type(self).reads += 1
        if data:
            self.send(data)


class BulkEcho(Echo):
    ng_bulk_input = True  # or ASYNCORE_NG_BULK_INPUT=1 in the environment, for every class
    reads = 0


class Server(asyncore.dispatcher):
    def __init__(self, handler, map):
        super().__init__(map=map)
        self.handler = handler
        self.create_socket(socket.AF_INET, socket.SOCK_STREAM)
        self.bind(("127.0.0.1", 0))
        self.listen()

    def handle_accepted(self, sock, addr):
        self.handler(sock, self._map)
        self.close()  # one client per run


def client(address, echoed):
    with socket.create_connection(address) as sock:
        writer = threading.Thread(target=sock.sendall, args=(PAYLOAD,))
        writer.start()
        while len(echoed) < len(PAYLOAD):
            data = sock.recv(262144)
            if not data:
                break
            echoed += data
        writer.join()


for handler in (Echo, BulkEcho):
    channels = {}  # a map of its own, so that each run has its own reactor and counters
    server = Server(handler, channels)
    echoed = bytearray()
    peer = threading.Thread(target=client, args=(server.socket.getsockname(), echoed))
    peer.start()
    asyncore.loop(timeout=1.0, map=channels)  # returns when the client has gone
    peer.join()
    passes = asyncore_ng.get_reactor(channels).statistics()["passes"]
    print(f"{handler.__name__:>8}: {handler.reads} handle_read calls in {passes} passes")
    assert echoed == PAYLOAD
