"""An asynchat line echo: async_chat with terminator b"\\n", pushing each line back.

    python asynchat_line_echo.py [--port 0] [--poll | --select]
"""

import socket
import warnings
from typing import Any, List

from _common import LISTEN_BACKLOG, announce, parse_args, raise_nofile_limit

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import asynchat
    import asyncore


class LineEcho(asynchat.async_chat):
    def __init__(self, sock: socket.socket) -> None:
        asynchat.async_chat.__init__(self, sock)
        self.set_terminator(b"\n")
        self.pieces: List[bytes] = []

    def collect_incoming_data(self, data: bytes) -> None:
        self.pieces.append(data)

    def found_terminator(self) -> None:
        line = b"".join(self.pieces)
        self.pieces = []
        self.push(line + b"\n")


class LineServer(asyncore.dispatcher):
    def __init__(self, port: int) -> None:
        asyncore.dispatcher.__init__(self)
        self.create_socket(socket.AF_INET, socket.SOCK_STREAM)
        self.set_reuse_addr()
        self.bind(("127.0.0.1", port))
        self.listen(LISTEN_BACKLOG)

    def handle_accepted(self, sock: socket.socket, addr: Any) -> None:
        LineEcho(sock)


def main() -> None:
    args = parse_args(__doc__)
    raise_nofile_limit()
    server = LineServer(args.port)
    announce(server.socket.getsockname()[1], "asynchat", asynchat)
    asyncore.loop(timeout=30.0, use_poll=args.use_poll)


if __name__ == "__main__":
    main()
