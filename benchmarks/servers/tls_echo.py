"""The TLS echo server on asyncore (issue #10): ``dispatcher_with_send`` with asyncore-ng's
``TLSMixin``, reading ``recv(262144)`` (asyncio's read size), echoing what it reads.

    python with_asyncore_ng.py tls_echo.py --certfile CERT --keyfile KEY [--port 0] [--poll|--select]
"""

import asyncore
import socket
import ssl

from _common import LISTEN_BACKLOG, announce, parse_args, raise_nofile_limit

from asyncore_ng.tls import TLSMixin


class EchoHandler(TLSMixin, asyncore.dispatcher_with_send):
    def handle_read(self):
        data = self.recv(262144)
        if data:
            self.send(data)


class EchoServer(asyncore.dispatcher):
    def __init__(self, port, context):
        asyncore.dispatcher.__init__(self)
        self.context = context
        self.create_socket(socket.AF_INET, socket.SOCK_STREAM)
        self.set_reuse_addr()
        self.bind(("127.0.0.1", port))
        self.listen(LISTEN_BACKLOG)

    def handle_accepted(self, sock, addr):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        EchoHandler(sock).start_tls(self.context, server_side=True)


def main():
    args = parse_args(__doc__)
    raise_nofile_limit()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.certfile, args.keyfile)
    server = EchoServer(args.port, context)
    announce(server.socket.getsockname()[1], "asyncore", asyncore)
    asyncore.loop(timeout=30.0, use_poll=args.use_poll)


if __name__ == "__main__":
    main()
