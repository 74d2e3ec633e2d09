"""The classic asyncore echo server: dispatcher_with_send, written with plain ``import asyncore``.

Run it as it is to measure the stdlib asyncore (3.11) or pyasyncore (3.12+), or through
``with_asyncore_ng.py`` to measure asyncore-ng with the very same code.

    python asyncore_echo.py [--port 0] [--poll | --select]
"""

import socket
import warnings
from typing import Any

from _common import LISTEN_BACKLOG, announce, parse_args, raise_nofile_limit

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import asyncore


class EchoHandler(asyncore.dispatcher_with_send):
    def handle_read(self) -> None:
        data = self.recv(8192)
        if data:
            self.send(data)


class EchoServer(asyncore.dispatcher):
    def __init__(self, port: int) -> None:
        asyncore.dispatcher.__init__(self)
        self.create_socket(socket.AF_INET, socket.SOCK_STREAM)
        self.set_reuse_addr()
        self.bind(("127.0.0.1", port))
        self.listen(LISTEN_BACKLOG)

    def handle_accepted(self, sock: socket.socket, addr: Any) -> None:
        EchoHandler(sock)


def main() -> None:
    args = parse_args(__doc__)
    raise_nofile_limit()
    server = EchoServer(args.port)
    announce(server.socket.getsockname()[1], "asyncore", asyncore)
    asyncore.loop(timeout=30.0, use_poll=args.use_poll)


if __name__ == "__main__":
    main()
