"""Property-based fuzz of client behaviour against an echo and a line-echo (async_chat) server.

Hypothesis draws interleaved actions of up to four raw loopback clients (connect, write a
random amount in one go, stall while the server runs, half-close, reset). Whatever happens:
no byte is lost, reordered or duplicated for a client that did not reset, and the server still
answers a fresh client afterwards.
"""

from __future__ import annotations

import asyncore
import os
import socket
import struct
import time
from typing import Any, Dict, List, Optional, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_soak import SERVERS, Listener

import asyncore_ng

SLOW = os.environ.get("ASYNCORE_NG_SLOW") == "1"

action = st.one_of(
    st.tuples(st.just("write"), st.integers(0, 3), st.integers(1, 300_000)),
    st.tuples(st.just("stall"), st.integers(0, 3), st.integers(1, 5)),
    st.tuples(st.just("half-close"), st.integers(0, 3), st.just(0)),
    st.tuples(st.just("reset"), st.integers(0, 3), st.just(0)),
    st.tuples(st.just("read"), st.integers(0, 3), st.just(0)),
)


class RawClient:
    def __init__(self, address: Any) -> None:
        self.sock = socket.create_connection(address)
        self.sock.setblocking(False)
        self.sent = bytearray()
        self.pending = bytearray()  # written by the test, not yet taken by the kernel
        self.received = bytearray()
        self.shut = False
        self.reset = False
        self.eof = False

    def pump(self) -> None:
        if self.reset:
            return
        try:
            while self.pending:
                n = self.sock.send(self.pending[:65536])
                self.sent += self.pending[:n]
                del self.pending[:n]
        except BlockingIOError:
            pass
        if self.shut and not self.pending:
            try:
                self.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        try:
            while True:
                chunk = self.sock.recv(1 << 20)
                if not chunk:
                    self.eof = True
                    return
                self.received += chunk
        except (BlockingIOError, ConnectionResetError):
            pass


def expected_echo(server: str, sent: bytes) -> bytes:
    if server == "chat":
        return sent[: sent.rfind(b"\n") + 1]  # only complete lines come back
    return sent


def run_example(server: str, actions: List[Tuple[str, int, int]]) -> None:
    handler, frame = SERVERS[server]()
    the_map = asyncore_ng.ChannelMap()
    listener = Listener(handler, the_map)
    address = listener.socket.getsockname()
    clients: List[RawClient] = []  # every client ever opened: all are checked at the end
    current: Dict[int, RawClient] = {}  # what each of the four client slots acts on now

    def run(passes: int = 1) -> None:
        for _ in range(passes):
            asyncore.loop(timeout=0.001, map=the_map, count=1)
            for c in clients:
                c.pump()

    try:
        for kind, index, amount in actions:
            client: Optional[RawClient] = current.get(index)
            if client is None or client.reset or client.shut:  # that one is done: a new client
                client = current[index] = RawClient(address)
                clients.append(client)
            if kind == "write":
                client.pending += frame(os.urandom(amount))
            elif kind == "stall":
                run(amount)
                continue
            elif kind == "half-close":
                client.shut = True
            elif kind == "reset":
                client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                client.sock.close()
                client.reset = True
            run()
        # Every client that did not reset: finish sending, half-close, read to the end.
        for c in clients:
            c.shut = True
        deadline = time.monotonic() + 30
        while any(not c.reset and not c.eof for c in clients):
            assert time.monotonic() < deadline, "clients never saw the end of their echo"
            run()
        for c in clients:
            if not c.reset:
                assert bytes(c.received) == expected_echo(server, bytes(c.sent))
        # The server still answers a newcomer.
        probe = RawClient(address)
        clients.append(probe)
        probe.pending += b"still here\n"
        deadline = time.monotonic() + 10
        while bytes(probe.received) != b"still here\n":
            assert time.monotonic() < deadline, "the server stopped answering"
            run()
    finally:
        for c in clients:
            if not c.reset:
                c.sock.close()
        asyncore.close_all(the_map)
        asyncore_ng.loop.release(the_map)


@pytest.mark.timeout(600 if SLOW else 180)
@pytest.mark.parametrize("server", sorted(SERVERS))
def test_random_client_behaviour_loses_nothing(server: str) -> None:
    @settings(
        max_examples=200 if SLOW else 25,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        derandomize=not SLOW,
    )
    @given(st.lists(action, min_size=1, max_size=25))
    def check(actions: List[Tuple[str, int, int]]) -> None:
        run_example(server, actions)

    check()
