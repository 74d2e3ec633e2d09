"""A TCP proxy on asyncore with flow control: a slow reader cannot grow its memory without bound.

    python examples/proxy.py LISTEN_PORT TARGET_HOST TARGET_PORT

Each side is a ``dispatcher_with_send``. When one side's output buffer passes its high-water
mark (``handle_output_full``), the proxy stops reading from the other side
(``pause_reading``); when it drains (``handle_output_drained``), reading resumes. So the
memory held per connection stays near ``ng_write_high_water`` plus one read, whatever the speed
difference between the two peers.
"""

from __future__ import annotations

import asyncore
import socket
import sys
from typing import Any, Optional

READ_SIZE = 256 * 1024


class Side(asyncore.dispatcher_with_send):
    """One end of a proxied connection; ``peer`` is the other end."""

    peer: Optional[Side] = None
    ng_write_high_water = 1024 * 1024  # flow control on: above this, handle_output_full
    ng_write_low_water = 256 * 1024

    def handle_read(self) -> None:
        data = self.recv(READ_SIZE)
        if data and self.peer is not None:
            self.peer.send(data)

    def handle_output_full(self) -> None:
        if self.peer is not None:
            self.peer.pause_reading()  # our buffer is full: stop reading what fills it

    def handle_output_drained(self) -> None:
        if self.peer is not None:
            self.peer.resume_reading()

    def handle_close(self) -> None:
        peer, self.peer = self.peer, None
        super().handle_close()  # flushes what is queued first, then closes
        if peer is not None:
            peer.peer = None
            peer.handle_close()


class Upstream(Side):
    def __init__(self, client: Side, target: Any) -> None:
        super().__init__()
        self.peer = client
        client.peer = self
        client.pause_reading()  # nothing to forward to until connected
        self.create_socket(socket.AF_INET, socket.SOCK_STREAM)
        self.connect(target)

    def handle_connect(self) -> None:
        if self.peer is not None:
            self.peer.resume_reading()


class Proxy(asyncore.dispatcher):
    def __init__(self, listen: Any, target: Any) -> None:
        super().__init__()
        self.target = target
        self.create_socket(socket.AF_INET, socket.SOCK_STREAM)
        self.set_reuse_addr()
        self.bind(listen)
        self.listen(128)

    def handle_accepted(self, sock: socket.socket, addr: Any) -> None:
        Upstream(Side(sock), self.target)


def main(argv: list) -> None:
    listen_port, host, port = int(argv[1]), argv[2], int(argv[3])
    proxy = Proxy(("127.0.0.1", listen_port), (host, port))
    print(f"listening on 127.0.0.1:{proxy.socket.getsockname()[1]}", flush=True)
    asyncore.loop()


if __name__ == "__main__":
    main(sys.argv)
