"""Blocking work in a thread, the answer back on the loop: ``call_soon_threadsafe`` wakes the
loop's wait at once, so the reply leaves within milliseconds, not at the end of ``timeout``.

    python docs/recipes/threads.py                (Python 3.12+)
    asyncore-ng run docs/recipes/threads.py       (any Python 3.8-3.13)

A line-based server answers ``sum N`` with the sum of 0..N-1, computed in a worker thread (think
of a database query). A blocking client in another thread asks, then stops the loop.
"""

import asynchat
import asyncore
import socket
import threading
import time

import asyncore_ng


class Handler(asynchat.async_chat):
    def __init__(self, sock):
        super().__init__(sock)
        self.set_terminator(b"\n")
        self.line = []

    def collect_incoming_data(self, data):
        self.line.append(data)

    def found_terminator(self):
        n = int(b"".join(self.line).split()[1])
        self.line = []
        threading.Thread(target=self.work, args=(n,)).start()

    def work(self, n):
        # In the worker thread: never touch the channel's buffers here. Hand the result to the
        # loop's thread; call_soon_threadsafe is safe from any thread (and signal handlers).
        result = sum(range(n))
        self.reactor.call_soon_threadsafe(self.push, b"%d\n" % result)
        # (push() and dispatcher_with_send.send() called from another thread while the loop
        # runs are handed over the same way by the library; other calls are not.)


class Server(asyncore.dispatcher):
    def __init__(self):
        super().__init__()
        self.create_socket(socket.AF_INET, socket.SOCK_STREAM)
        self.bind(("127.0.0.1", 0))
        self.listen()

    def handle_accepted(self, sock, addr):
        Handler(sock)


def client(address, reactor, answers):
    with socket.create_connection(address) as sock, sock.makefile("rb") as replies:
        for n in (10, 1000, 100000):
            started = time.monotonic()
            sock.sendall(b"sum %d\n" % n)
            answers.append((int(replies.readline()), time.monotonic() - started))
    reactor.stop()  # thread-safe: loop() returns after its current pass


server = Server()
reactor = asyncore_ng.get_reactor()  # the reactor of the default map
answers = []
thread = threading.Thread(target=client, args=(server.socket.getsockname(), reactor, answers))
thread.start()
asyncore.loop(timeout=30.0)  # a long timeout: the wake-ups, not the timeout, end each wait
thread.join()
asyncore.close_all()
for value, seconds in answers:
    print(f"{value} after {1000 * seconds:.1f} ms")
assert [value for value, _ in answers] == [45, 499500, 4999950000]
assert all(seconds < 5.0 for _, seconds in answers)
