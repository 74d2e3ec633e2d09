"""A churn of client channels against an echo-style server, all in one map (used by the soak
and fuzz tests). Clients open, send random data in random pieces, read it back, and end in a
random way: graceful close, half-close then read to the end, or reset. Every byte that comes
back is checked against what was sent."""

from __future__ import annotations

import asyncore
import os
import random
import socket
import struct
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional


@dataclass
class SoakStats:
    connections: int = 0
    bytes_verified: int = 0
    faults: Dict[str, int] = field(default_factory=dict)
    errors: List[str] = field(default_factory=list)

    def fault(self, kind: str) -> None:
        self.faults[kind] = self.faults.get(kind, 0) + 1


class Client(asyncore.dispatcher):
    """Sends ``payload`` in random pieces and checks the echo, then ends as ``ending`` says.

    ``frame`` turns the payload into what goes on the wire (the chat server wants lines);
    the expected echo is the framed payload."""

    def __init__(
        self,
        address: Any,
        payload: bytes,
        ending: str,
        rng: random.Random,
        stats: SoakStats,
        on_done: Callable[[Client], None],
        map: Optional[Dict[Any, Any]] = None,
    ) -> None:
        super().__init__(map=map)
        self.payload = payload
        self.ending = ending
        self.rng = rng
        self.stats = stats
        self.on_done = on_done
        self.sent = 0
        self.received = bytearray()
        self.done = False
        self.create_socket(socket.AF_INET, socket.SOCK_STREAM)
        self.connect(address)

    def handle_connect(self) -> None:
        pass

    def writable(self) -> bool:
        return not self.connected or self.sent < len(self.payload)

    def handle_write(self) -> None:
        piece = self.rng.choice((1, 7, 100, 1500, 65536))
        n = self.send(self.payload[self.sent : self.sent + piece])
        self.sent += n
        if self.sent == len(self.payload) and self.ending == "half-close":
            self.socket.shutdown(socket.SHUT_WR)
            self.stats.fault("half-close")
        if self.ending == "reset" and self.sent >= len(self.payload) // 2:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.stats.fault("reset")
            self.finish()

    def handle_read(self) -> None:
        data = self.recv(65536)
        if not data:
            return
        start = len(self.received)
        self.received += data
        if self.payload[start : len(self.received)] != data:
            self.stats.errors.append(f"echo mismatch at byte {start} of a {len(self.payload)}-byte payload")
            self.finish()
            return
        if len(self.received) == len(self.payload) and self.ending != "half-close":
            self.finish()

    def handle_close(self) -> None:
        if self.ending == "half-close" and len(self.received) != len(self.payload):
            self.stats.errors.append(
                f"half-closed client got {len(self.received)} of {len(self.payload)} bytes"
            )
        self.finish()

    def handle_error(self) -> None:
        self.stats.errors.append(f"client error: {asyncore.compact_traceback()[2]!r}")
        self.finish()

    def finish(self) -> None:
        if self.done:
            return
        self.done = True
        if self.ending != "reset":
            self.stats.bytes_verified += len(self.received)
        self.close()
        self.on_done(self)


def random_payload(rng: random.Random, frame: Callable[[bytes], bytes]) -> bytes:
    size = rng.choice((1, 10, 1000, 20_000, 200_000))
    return frame(os.urandom(size))


def churn(
    address: Any,
    total: int,
    concurrency: int,
    seed: int,
    run_pass: Callable[[], None],
    frame: Callable[[bytes], bytes] = lambda b: b,
    map: Optional[Dict[Any, Any]] = None,
    endings: tuple = ("close", "half-close", "reset"),
) -> SoakStats:
    """Open ``total`` clients, at most ``concurrency`` at once, and run until all ended."""
    rng = random.Random(seed)
    stats = SoakStats()
    live: List[Client] = []

    def on_done(client: Client) -> None:
        live.remove(client)

    while stats.connections < total or live:
        while stats.connections < total and len(live) < concurrency:
            ending = rng.choice(endings)
            client = Client(address, random_payload(rng, frame), ending, rng, stats, on_done, map)
            live.append(client)
            stats.connections += 1
            stats.fault("connection")
        run_pass()
    return stats
