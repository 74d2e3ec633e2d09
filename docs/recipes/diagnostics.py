"""Debug mode, the exception handler and ``statistics()``: what a running loop can tell you.

    python docs/recipes/diagnostics.py                (Python 3.12+)
    asyncore-ng run docs/recipes/diagnostics.py       (any Python 3.8-3.13)

A handler that blocks the loop for 0.15 s is named in a warning (debug mode, also turned on by
``ASYNCORE_NG_DEBUG=1``); a timer that raises goes to the reactor's exception handler (the
default logs it with the traceback); the counters show what the loop did.
"""

import asyncore
import logging
import socket
import time

import asyncore_ng

logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


class Slow(asyncore.dispatcher_with_send):
    def handle_read(self):
        data = self.recv(4096)
        if data:
            time.sleep(0.15)  # blocking work inside a handler: every other channel waits
            self.send(data)


class Server(asyncore.dispatcher):
    def __init__(self):
        super().__init__()
        self.create_socket(socket.AF_INET, socket.SOCK_STREAM)
        self.bind(("127.0.0.1", 0))
        self.listen()

    def handle_accepted(self, sock, addr):
        Slow(sock)


errors = []


def on_error(reactor, context):
    # context: "message", "exception" and, where known, "callback", "handle", "watch"
    errors.append(context["exception"])
    print("exception handler:", context["message"])


def broken_timer():
    raise ValueError("a bug in a timer")


server = Server()
reactor = asyncore_ng.get_reactor()
reactor.set_debug(True)  # or ASYNCORE_NG_DEBUG=1 in the environment
reactor.slow_callback_duration = 0.1  # the default: warn about anything that takes longer
reactor.set_exception_handler(on_error)
reactor.call_later(0.01, broken_timer)

with socket.create_connection(server.socket.getsockname()) as client:
    client.sendall(b"ping")
    client.setblocking(False)
    reply = b""
    while reply != b"ping":
        asyncore.loop(timeout=0.05, count=1)  # logs: WARNING asyncore_ng: handling events ...
        try:
            reply += client.recv(4096)
        except BlockingIOError:
            pass
asyncore.loop(timeout=0.05, count=3)  # the timer is due by now
asyncore.close_all()

stats = reactor.statistics()
print({key: stats[key] for key in ("backend", "passes", "events", "timers_run", "watches")})
print(f"waiting {stats['waiting']:.3f} s, running {stats['running']:.3f} s")
assert isinstance(errors[0], ValueError)
assert stats["running"] >= 0.15
