"""The asyncio echo server: a Protocol whose data_received writes the data back.

    python asyncio_echo.py [--port 0] [--uvloop]
"""

import asyncio
from typing import Optional

from _common import LISTEN_BACKLOG, announce, parse_args, raise_nofile_limit


class Echo(asyncio.Protocol):
    transport: Optional[asyncio.Transport] = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)  # type: ignore[union-attr]


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
        loop.create_server(Echo, "127.0.0.1", args.port, backlog=LISTEN_BACKLOG)
    )
    announce(server.sockets[0].getsockname()[1], impl, module)
    loop.run_forever()


if __name__ == "__main__":
    main()
