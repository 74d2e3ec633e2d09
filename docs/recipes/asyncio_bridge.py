"""The asyncio bridge: asyncore channels served by the running asyncio loop, beside asyncio code,
in one thread. An asyncore echo server answers an asyncio client; a legacy async_chat line
protocol answers each line with the result of a coroutine (its errors reach handle_error).

    python docs/recipes/asyncio_bridge.py                (Python 3.12+)
    asyncore-ng run docs/recipes/asyncio_bridge.py       (any Python 3.8-3.13)
"""

import asynchat
import asyncio
import asyncore
import socket

from asyncore_ng import aio


class Echo(asyncore.dispatcher_with_send):
    def handle_read(self):
        data = self.recv(4096)
        if data:
            self.send(data)


class Listener(asyncore.dispatcher):
    def __init__(self, handler):
        super().__init__()
        self.handler = handler
        self.create_socket(socket.AF_INET, socket.SOCK_STREAM)
        self.bind(("127.0.0.1", 0))
        self.listen()
        self.address = self.socket.getsockname()

    def handle_accepted(self, sock, addr):
        self.handler(sock)


async def lookup(word):
    """Stands for any asyncio work: a database driver, an HTTP client..."""
    await asyncio.sleep(0)
    if word == b"?":
        raise KeyError("no such word")
    return word.upper()


class Asker(asynchat.async_chat):
    """A legacy line protocol: each line is answered by a coroutine."""

    def __init__(self, sock):
        super().__init__(sock)
        self.set_terminator(b"\n")
        self.buffer = []

    def collect_incoming_data(self, data):
        self.buffer.append(data)

    def found_terminator(self):
        word = b"".join(self.buffer)
        self.buffer = []
        # Runs on the loop that serves this channel; the result comes back to self.answer.
        aio.start(self, lookup(word), self.answer)

    def answer(self, text):
        self.push(text + b"\n")

    def handle_error(self):
        # The coroutine's exception arrives here, as one raised by a handler would.
        kind = asyncore.compact_traceback()[1]
        self.push(b"error: " + kind.__name__.encode() + b"\n")


async def main():
    echo = Listener(Echo)
    ask = Listener(Asker)
    attachment = aio.attach()  # asyncore's socket_map, served by this loop from now on
    try:
        reader, writer = await asyncio.open_connection(*echo.address)
        writer.write(b"hello\n")
        assert await reader.readline() == b"hello\n"
        writer.close()
        await writer.wait_closed()

        reader, writer = await asyncio.open_connection(*ask.address)
        writer.write(b"spam\n?\neggs\n")
        answers = [await reader.readline() for _ in range(3)]
        assert answers == [b"SPAM\n", b"error: KeyError\n", b"EGGS\n"], answers
        writer.close()
        await writer.wait_closed()
    finally:
        attachment.detach()
        asyncore.close_all()
    print("asyncore and asyncio served each other from one loop")


asyncio.run(main())
