"""A TLS client on asyncore: connects, verifies the server's certificate, sends one message and
prints the echo. Try it against examples/tls_echo_server.py.

    python docs/recipes/tls_client.py --port PORT --cafile CA.pem [--host 127.0.0.1] [MESSAGE]
    (Python 3.12+; on 3.8-3.11: asyncore-ng run docs/recipes/tls_client.py ...)

``--cafile``: the certificate authority that signed the server's certificate (for a server with
a publicly trusted certificate, leave the context to ``start_tls()``: ``None`` means
``ssl.create_default_context()``, the system's trust store).
"""

import argparse
import asyncore
import socket
import ssl
import sys

from asyncore_ng.tls import TLSMixin


class EchoClient(TLSMixin, asyncore.dispatcher_with_send):
    def __init__(self, host, port, context, message):
        super().__init__()
        self.message = message
        self.received = b""
        self.create_socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        self.start_tls(context)  # the certificate is checked against the host given to connect()
        self.connect((host, port))
        self.send(message)  # queued until the handshake is done, then sent encrypted

    def handle_connect(self):
        pass

    def handle_tls_established(self):
        print(f"TLS established: {self.socket.version()}, {self.socket.cipher()[0]}")

    def handle_read(self):
        self.received += self.recv(65536)  # plaintext
        if len(self.received) >= len(self.message):
            self.close()  # sends close_notify, then closes

    def handle_tls_error(self, exc):
        print(f"TLS failed: {exc}", file=sys.stderr)  # (already logged on the asyncore_ng logger)
        self.close()


def main():
    parser = argparse.ArgumentParser(description="TLS echo client on asyncore-ng")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--cafile", required=True, help="PEM file of the CA that signed the server's certificate"
    )
    parser.add_argument("message", nargs="?", default="hello over TLS")
    args = parser.parse_args()
    context = ssl.create_default_context(cafile=args.cafile)
    client = EchoClient(args.host, args.port, context, args.message.encode())
    asyncore.loop(timeout=5.0)
    print(f"echoed: {client.received.decode()}")
    return 0 if client.received == args.message.encode() else 1


if __name__ == "__main__":
    sys.exit(main())
