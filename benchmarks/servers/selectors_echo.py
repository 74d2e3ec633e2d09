"""The pure-Python floor: a minimal hand-written selectors echo loop.

Each connection is registered for READ; a read of up to 64 KiB is sent straight back, and only
a partial send makes the loop watch READ|WRITE (the rest waits in a bytearray) until all of it
has gone.

    python selectors_echo.py [--port 0]
"""

import selectors
import socket
from typing import Dict

from _common import LISTEN_BACKLOG, announce, parse_args, raise_nofile_limit

READ = selectors.EVENT_READ
WRITE = selectors.EVENT_WRITE


def close(selector: selectors.BaseSelector, conn: socket.socket) -> None:
    selector.unregister(conn)
    conn.close()


def serve(listener: socket.socket) -> None:
    selector = selectors.DefaultSelector()
    selector.register(listener, READ, None)
    pending: Dict[socket.socket, bytearray] = {}
    while True:
        for key, events in selector.select():
            conn = key.data
            if conn is None:  # the listener: accept all that wait
                for _ in range(LISTEN_BACKLOG):
                    try:
                        new, _addr = listener.accept()
                    except BlockingIOError:
                        break
                    new.setblocking(False)
                    selector.register(new, READ, new)
                continue
            if events & READ:
                try:
                    data = conn.recv(65536)
                except BlockingIOError:
                    data = None
                except OSError:
                    data = b""
                if data == b"":
                    pending.pop(conn, None)
                    close(selector, conn)
                    continue
                if data is not None:
                    rest = pending.get(conn)
                    if rest is not None:
                        rest += data
                    else:
                        try:
                            sent = conn.send(data)
                        except BlockingIOError:
                            sent = 0
                        except OSError:
                            close(selector, conn)
                            continue
                        if sent < len(data):
                            pending[conn] = bytearray(data[sent:])
                            selector.modify(conn, READ | WRITE, conn)
                        continue
            if events & WRITE:
                rest = pending[conn]
                try:
                    sent = conn.send(rest)
                except BlockingIOError:
                    sent = 0
                except OSError:
                    del pending[conn]
                    close(selector, conn)
                    continue
                del rest[:sent]
                if not rest:
                    del pending[conn]
                    selector.modify(conn, READ, conn)


def main() -> None:
    args = parse_args(__doc__)
    raise_nofile_limit()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", args.port))
    listener.listen(LISTEN_BACKLOG)
    listener.setblocking(False)
    announce(listener.getsockname()[1], "selectors", selectors)
    serve(listener)


if __name__ == "__main__":
    main()
