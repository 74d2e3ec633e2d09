"""Old and new code on one event loop, in one thread (asyncore_ng.aio).

    python examples/mixed_asyncio.py [--uvloop] [HOST]      (default 127.0.0.1; free ports)

Three servers, one thread, one asyncio loop (uvloop's with ``--uvloop``):

* ``echo``: the asyncore documentation's echo server, unchanged: ``EchoServer`` is imported
  from ``echo_server.py`` beside this file, written for ``asyncore.loop()``;
* ``upper``: an asyncio server (streams) that answers each line in capitals;
* ``ask``: a legacy ``async_chat`` line protocol whose handler, for each line, awaits an asyncio
  client call to ``upper`` (``aio.start``) and pushes the answer back to its client.

The first line printed says where each listens (one line)::

    echo (asyncore) on 127.0.0.1:PORT, upper (asyncio) on 127.0.0.1:PORT,
    ask (asynchat awaiting asyncio) on 127.0.0.1:PORT

Ctrl-C (SIGINT) or SIGTERM stops it.
"""

import asyncio
import os
import signal
import socket
import sys

import asyncore_ng

asyncore_ng.install()  # on 3.8-3.11 the stdlib's asyncore would be found first

import asynchat  # noqa: E402
import asyncore  # noqa: E402

from asyncore_ng import aio  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from echo_server import EchoServer  # noqa: E402  (the docs' echo server, unchanged)

# -- new code: an asyncio server and an asyncio client -------------------------------------------


async def serve_upper(reader, writer):
    """The asyncio side: each line back in capitals."""
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            writer.write(line.upper())
            await writer.drain()
    finally:
        writer.close()


async def ask_upper(address, line):
    """An asyncio client call: one line to the ``upper`` server, its answer back."""
    reader, writer = await asyncio.open_connection(*address)
    try:
        writer.write(line + b"\n")
        await writer.drain()
        return (await reader.readline()).rstrip(b"\n")
    finally:
        writer.close()


# -- old code: an asynchat line protocol, awaiting the asyncio call --------------------------------


class AskHandler(asynchat.async_chat):
    def __init__(self, sock, upper_address):
        asynchat.async_chat.__init__(self, sock)
        self.set_terminator(b"\n")
        self.buffer = []
        self.upper_address = upper_address

    def collect_incoming_data(self, data):
        self.buffer.append(data)

    def found_terminator(self):
        line = b"".join(self.buffer)
        self.buffer = []
        # Start the coroutine on the loop serving this channel; the answer comes back to
        # self.answer (an error would go to handle_error, as one raised here would).
        aio.start(self, ask_upper(self.upper_address, line), self.answer)

    def answer(self, text):
        self.push(b"upper says: " + text + b"\n")


class AskServer(asyncore.dispatcher):
    def __init__(self, host, upper_address):
        asyncore.dispatcher.__init__(self)
        self.create_socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        self.set_reuse_addr()
        self.bind((host, 0))
        self.listen(socket.SOMAXCONN)
        self.upper_address = upper_address

    def handle_accepted(self, sock, addr):
        AskHandler(sock, self.upper_address)


# -- one loop for all of it ------------------------------------------------------------------------


async def main(host):
    stop = asyncio.get_running_loop().create_future()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, stop.cancel)
    upper = await asyncio.start_server(serve_upper, host, 0)
    upper_address = upper.sockets[0].getsockname()[:2]
    echo = EchoServer(host, 0)
    ask = AskServer(host, upper_address)

    def where(sockname):
        return f"{host}:{sockname[1]}"

    print(
        f"echo (asyncore) on {where(echo.socket.getsockname())}, "
        f"upper (asyncio) on {where(upper_address)}, "
        f"ask (asynchat awaiting asyncio) on {where(ask.socket.getsockname())}",
        flush=True,
    )
    attachment = aio.attach()  # asyncore's socket_map, served by this loop from now on
    try:
        await stop
    except asyncio.CancelledError:
        pass  # Ctrl-C or SIGTERM
    finally:
        attachment.detach()
        asyncore.close_all()
        upper.close()
        await upper.wait_closed()


if __name__ == "__main__":
    args = sys.argv[1:]
    use_uvloop = "--uvloop" in args
    args = [a for a in args if a != "--uvloop"]
    host = args[0] if args else "127.0.0.1"
    loop = aio.new_event_loop("uvloop" if use_uvloop else "asyncio")
    try:
        loop.run_until_complete(main(host))
    finally:
        loop.close()
