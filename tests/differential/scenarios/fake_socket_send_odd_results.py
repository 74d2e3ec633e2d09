"""A socket stand-in whose send() returns what a real socket never does: None (a stub that
forgets to return), -1, a float, more than it was given. What dispatcher_with_send and
async_chat do with the result, exactly as the stdlib's arithmetic did it (None leaves the data
queued for the next write event; -1 keeps only the last byte; a float fails inside
handle_write, reaching handle_error)."""

import asynchat
import asyncore

from _trace import attempt, exc, log, pair


class FakeSock:
    def __init__(self, real, result):
        self.real = real
        self.result = result
        self.calls = []

    def fileno(self):
        return self.real.fileno()

    def setblocking(self, flag):
        pass

    def getpeername(self):
        return "fake-peer"

    def send(self, data):
        self.calls.append(bytes(data))
        return self.result

    def recv(self, n):
        return b""

    def close(self):
        self.real.close()


class Buffered(asyncore.dispatcher_with_send):
    def handle_read(self):
        pass

    def handle_error(self):
        import sys

        log("handle_error:", exc(sys.exc_info()[1]))
        self.close()


class Chat(asynchat.async_chat):
    def collect_incoming_data(self, data):
        pass

    def found_terminator(self):
        pass

    def handle_error(self):
        import sys

        log("handle_error:", exc(sys.exc_info()[1]))
        self.close()


for result in (None, -1, 1.5, 99, 0):
    for cls in (Buffered, Chat):
        m = {}
        a, b = pair()
        fake = FakeSock(a, result)
        c = cls(map=m)
        c.set_socket(fake)
        c.connected = True
        label = f"{cls.__name__} send->{result!r}"
        if cls is Buffered:
            attempt(f"{label}: send", c.send, b"hello world")
            log(f"{label}: out_buffer", bytes(c.out_buffer))
        else:
            attempt(f"{label}: push", c.push, b"hello world")
            log(f"{label}: fifo", [bytes(x) for x in c.producer_fifo])
        asyncore.loop(timeout=0.01, map=m, count=2)
        log(f"{label}: calls", fake.calls)
        if cls is Buffered:
            log(f"{label}: out_buffer after", bytes(c.out_buffer) if c.socket is not None else "<closed>")
        else:
            log(f"{label}: fifo after", [bytes(x) for x in c.producer_fifo])
        c.close()
        b.close()
