"""The asyncore echo server (``asyncore_echo.py``'s classes) served by ``asyncore_ng.aio`` on a
running asyncio loop, with either of the two bridge mechanisms issue #11 asked to measure:

* ``--mechanism nested`` (what asyncore_ng.aio does): the reactor's epoll descriptor is one
  asyncio reader; a pass polls it with a zero timeout and dispatches the raw events;
* ``--mechanism readers`` (the prototype of the alternative, ``aio_readers.py``): one asyncio
  reader and writer per channel, through asyncio's own selector, events gathered into a pass.

Run through ``with_asyncore_ng.py`` (asyncore must be asyncore-ng's):

    python with_asyncore_ng.py asyncore_echo_aio.py [--port 0] [--poll | --select]
                                                   [--mechanism nested|readers] [--uvloop]
"""

import asyncio
import asyncore  # asyncore-ng's (with_asyncore_ng.py installed it)
import sys

from _common import announce, raise_nofile_limit
from asyncore_echo import EchoServer


def main() -> None:
    argv = sys.argv[1:]
    mechanism = "nested"
    if "--mechanism" in argv:
        i = argv.index("--mechanism")
        mechanism = argv[i + 1]
        del argv[i : i + 2]
    from _common import parse_args

    args = parse_args(__doc__, argv)
    raise_nofile_limit()
    from asyncore_ng import aio

    loop = aio.new_event_loop("uvloop" if args.uvloop else "asyncio")
    asyncio.set_event_loop(loop)
    server = EchoServer(args.port)
    announce(server.socket.getsockname()[1], f"asyncore-on-asyncio-{mechanism}", asyncore)
    if mechanism == "nested":
        loop.run_until_complete(aio.serve(use_poll=args.use_poll))
    elif mechanism == "readers":
        from aio_readers import serve_with_readers

        loop.run_until_complete(serve_with_readers(asyncore.socket_map, use_poll=args.use_poll))
    else:
        sys.exit(f"unknown mechanism {mechanism!r}: nested or readers")


if __name__ == "__main__":
    main()
