"""A TLS echo server on asyncore-ng: every connection gets back what it sends, over TLS.

    python examples/tls_echo_server.py --certfile CERT --keyfile KEY [--host 127.0.0.1] [--port 0]

The first line on stdout is ``listening on HOST:PORT`` (the real port when 0 was given).
SIGINT (Ctrl-C) or SIGTERM stops it with exit status 0. Why connections end (a failed
handshake, a peer gone without close_notify...) is logged on stderr.

Try it with ``openssl s_client -connect 127.0.0.1:PORT`` (or ``-CAfile`` for a verified
connection) and type a line.
"""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import ssl
import sys
from typing import Any, List, Optional

import asyncore_ng
from asyncore_ng import loop as asyncore_loop
from asyncore_ng.buffered import DispatcherWithSend
from asyncore_ng.dispatcher import Dispatcher
from asyncore_ng.tls import TLSMixin


class EchoHandler(TLSMixin, DispatcherWithSend):
    """Echo over TLS; reading pauses while more than 1 MiB waits to be sent (a client that
    sends without reading cannot make the server hold more)."""

    ng_write_high_water = 1 << 20

    def handle_read(self) -> None:
        data = self.recv(262144)
        if data:
            self.send(data)

    def handle_output_full(self) -> None:
        self.pause_reading()

    def handle_output_drained(self) -> None:
        self.resume_reading()


class EchoServer(Dispatcher):
    def __init__(self, host: str, port: int, context: ssl.SSLContext) -> None:
        super().__init__()
        self.context = context
        self.create_socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        self.set_reuse_addr()
        self.bind((host, port))
        self.listen()

    def handle_accepted(self, sock: socket.socket, addr: Any) -> None:
        EchoHandler(sock).start_tls(self.context, server_side=True)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="TLS echo server on asyncore-ng")
    parser.add_argument("--certfile", required=True, help="PEM certificate (chain) of the server")
    parser.add_argument("--keyfile", required=True, help="PEM private key of the server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.certfile, args.keyfile)
    server = EchoServer(args.host, args.port, context)
    # Handlers first, then the line that tells the world we are up.
    reactor = asyncore_ng.get_reactor()

    def stop(signum: int, frame: Any) -> None:
        reactor.stop()  # safe from a signal handler: loop() returns after its current pass

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    print(f"listening on {args.host}:{server.socket.getsockname()[1]}", flush=True)

    try:
        asyncore_loop.loop(timeout=30.0, use_poll=True)
    finally:
        asyncore_loop.close_all(ignore_all=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
