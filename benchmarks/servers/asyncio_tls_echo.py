"""The asyncio TLS echo server (issue #10): ``asyncio.start_server(..., ssl=context)``, streams
reading up to 256 KiB, writing back and draining.

    python asyncio_tls_echo.py --certfile CERT --keyfile KEY [--port 0] [--uvloop]
"""

import asyncio
import ssl

from _common import LISTEN_BACKLOG, announce, parse_args, raise_nofile_limit


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            data = await reader.read(262144)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        writer.close()


async def serve(port: int, context: ssl.SSLContext, impl: str, module: object) -> None:
    server = await asyncio.start_server(echo, "127.0.0.1", port, ssl=context, backlog=LISTEN_BACKLOG)
    announce(server.sockets[0].getsockname()[1], impl, module)  # type: ignore[arg-type]
    await server.serve_forever()


def main() -> None:
    args = parse_args(__doc__)
    raise_nofile_limit()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.certfile, args.keyfile)
    if args.uvloop:
        import uvloop

        loop = uvloop.new_event_loop()
        impl, module = "uvloop", uvloop
    else:
        loop = asyncio.new_event_loop()
        impl, module = "asyncio", asyncio
    asyncio.set_event_loop(loop)
    loop.run_until_complete(serve(args.port, context, impl, module))


if __name__ == "__main__":
    main()
