"""The asyncore documentation's basic HTTP client, unchanged in spirit.

    python examples/http_client.py [HOST [PORT [PATH]]]   (default: 127.0.0.1 8080 /)

Sends an HTTP/1.0 GET and writes the response (status line, headers, body) to standard
output as it arrives; exits with status 1 if no response came. Point it at a server on your
own machine, for instance ``python -m http.server 8080 --bind 127.0.0.1``.

On Python 3.12+ with asyncore-ng installed, ``import asyncore`` finds asyncore-ng's module.
On 3.8-3.11 the standard library's would win: run it as
``python -m asyncore_ng run examples/http_client.py``, or call ``asyncore_ng.install()`` first.
"""

import asyncore
import socket
import sys


class HTTPClient(asyncore.dispatcher):
    def __init__(self, host, port, path):
        asyncore.dispatcher.__init__(self)
        host_header = f"[{host}]" if ":" in host else host
        if port != 80:
            host_header += f":{port}"
        self.buffer = bytes(f"GET {path} HTTP/1.0\r\nHost: {host_header}\r\n\r\n", "ascii")
        self.received = 0
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.create_socket(family, socket.SOCK_STREAM)
        self.connect((host, port))

    def handle_connect(self):
        pass

    def handle_close(self):
        self.close()

    def handle_read(self):
        data = self.recv(8192)
        self.received += len(data)
        sys.stdout.buffer.write(data)

    def writable(self):
        return len(self.buffer) > 0

    def handle_write(self):
        sent = self.send(self.buffer)
        self.buffer = self.buffer[sent:]


def main(argv):
    host = argv[1] if len(argv) > 1 else "127.0.0.1"
    port = int(argv[2]) if len(argv) > 2 else 8080
    path = argv[3] if len(argv) > 3 else "/"
    client = HTTPClient(host, port, path)
    asyncore.loop()
    sys.stdout.flush()
    if not client.received:
        sys.stderr.write(f"no response from {host}:{port}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
