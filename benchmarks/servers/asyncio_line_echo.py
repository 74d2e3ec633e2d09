"""The asyncio line echo: a Protocol that splits lines itself and writes each one back.

The counterpart of asynchat_line_echo.py, written as one would for speed: bytes are scanned
once (a complete line in one chunk, the usual case, costs one find and one write), and a
partial line waits in a bytearray.

    python asyncio_line_echo.py [--port 0] [--uvloop]
"""

import asyncio
from typing import Optional

from _common import LISTEN_BACKLOG, announce, parse_args, raise_nofile_limit

MAX_LINE = 1 << 20


class LineEcho(asyncio.Protocol):
    transport: Optional[asyncio.Transport] = None

    def __init__(self) -> None:
        self.partial = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.partial:
            self.partial += data
            data = bytes(self.partial)
            self.partial.clear()
        start = 0
        end = data.find(b"\n")
        while end >= 0:
            self.line_received(data[start:end])
            start = end + 1
            end = data.find(b"\n", start)
        if start < len(data):
            self.partial += data[start:]
            if len(self.partial) > MAX_LINE:
                self.transport.close()  # type: ignore[union-attr]

    def line_received(self, line: bytes) -> None:
        self.transport.write(line + b"\n")  # type: ignore[union-attr]


def main() -> None:
    args = parse_args(__doc__)
    raise_nofile_limit()
    if args.uvloop:
        import uvloop

        loop = uvloop.new_event_loop()
        impl, module = "uvloop", uvloop
    else:
        loop = asyncio.new_event_loop()
        impl, module = "asyncio", asyncio
    asyncio.set_event_loop(loop)
    server = loop.run_until_complete(
        loop.create_server(LineEcho, "127.0.0.1", args.port, backlog=LISTEN_BACKLOG)
    )
    announce(server.sockets[0].getsockname()[1], impl, module)
    loop.run_forever()


if __name__ == "__main__":
    main()
