"""A minimal SMTP-style line server on ``async_chat`` with STARTTLS, on asyncore-ng.

    python examples/starttls_server.py --certfile CERT --keyfile KEY [--host 127.0.0.1] [--port 0]

It speaks just enough SMTP for ``smtplib.SMTP`` to connect, ``starttls()``, ``ehlo()``,
``noop()`` and ``quit()``: a ``220`` greeting; ``EHLO`` answered with a multi-line ``250``
that offers ``STARTTLS`` (until TLS is on); ``HELO`` and ``NOOP`` answered ``250``; ``STARTTLS``
answered ``220`` and then the same connection upgraded in place; ``QUIT`` answered ``221`` and
closed; anything else ``500``. Bytes a client pipelines right after ``STARTTLS`` go to the TLS
layer, never to the command parser.

The first line on stdout is ``listening on HOST:PORT``; SIGINT or SIGTERM stop it (status 0).
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
from asyncore_ng.chat import AsyncChat
from asyncore_ng.dispatcher import Dispatcher
from asyncore_ng.tls import TLSMixin

HOSTNAME = b"localhost"


class SMTPChannel(TLSMixin, AsyncChat):
    ng_in_buffer_limit = 4096  # no line may grow without bound

    def __init__(self, sock: socket.socket, context: ssl.SSLContext) -> None:
        super().__init__(sock)
        self.context = context
        self.tls_on = False
        self.line: List[bytes] = []
        self.set_terminator(b"\r\n")
        self.reply(b"220 " + HOSTNAME + b" ESMTP asyncore-ng STARTTLS example")

    def reply(self, line: bytes) -> None:
        self.push(line + b"\r\n")

    def collect_incoming_data(self, data: bytes) -> None:
        self.line.append(data)

    def found_terminator(self) -> None:
        line = b"".join(self.line)
        self.line = []
        verb = line.split(b" ", 1)[0].upper()
        if verb == b"EHLO":
            features = [b"250-" + HOSTNAME + b" at your service", b"250-8BITMIME"]
            if not self.tls_on:
                features.append(b"250-STARTTLS")
            features.append(b"250 HELP")
            self.push(b"".join(f + b"\r\n" for f in features))
        elif verb in (b"HELO", b"NOOP"):
            self.reply(b"250 OK")
        elif verb == b"STARTTLS" and not self.tls_on:
            self.reply(b"220 Ready to start TLS")
            # The reply above goes out in plain; whatever the client sent after its command
            # (already read into the framer, or still in the socket) is handed to TLS.
            self.tls_on = True
            self.start_tls(self.context, server_side=True)
        elif verb == b"QUIT":
            self.reply(b"221 Bye")
            self.close_when_done()
        else:
            self.reply(b"500 Command not recognized")

    def handle_tls_established(self) -> None:
        logging.info(
            "%s: TLS established (%s, %s)", self.addr, self.socket.version(), self.socket.cipher()[0]
        )


class SMTPServer(Dispatcher):
    def __init__(self, host: str, port: int, context: ssl.SSLContext) -> None:
        super().__init__()
        self.context = context
        self.create_socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        self.set_reuse_addr()
        self.bind((host, port))
        self.listen()

    def handle_accepted(self, sock: socket.socket, addr: Any) -> None:
        SMTPChannel(sock, self.context)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="SMTP-style STARTTLS server on asyncore-ng")
    parser.add_argument("--certfile", required=True, help="PEM certificate (chain) of the server")
    parser.add_argument("--keyfile", required=True, help="PEM private key of the server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.certfile, args.keyfile)
    server = SMTPServer(args.host, args.port, context)
    # Handlers first, then the line that tells the world we are up.
    reactor = asyncore_ng.get_reactor()

    def stop(signum: int, frame: Any) -> None:
        reactor.stop()

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
