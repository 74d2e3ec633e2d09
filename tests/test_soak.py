"""Soak: thousands of connections opened, used and closed in random order (issue 5).

Short in CI; ``ASYNCORE_NG_SLOW=1`` runs the long version (the figures in the README's
reliability section). Afterwards: no descriptor leaked, the map, the kernel registrations and
the timers are back where they started, every byte came back in order.
"""

from __future__ import annotations

import asyncore
import os
import socket
import time
from typing import Any, Callable, Dict, List

import pytest
from conftest import open_fds
from soak_support import SoakStats, churn

import asyncore_ng
from asyncore_ng import loop as channels

SLOW = os.environ.get("ASYNCORE_NG_SLOW") == "1"


class Echo(asyncore.dispatcher_with_send):
    def handle_read(self) -> None:
        data = self.recv(65536)
        if data:
            self.send(data)


class Listener(asyncore.dispatcher):
    def __init__(self, handler: Any, map: Dict[Any, Any]) -> None:
        super().__init__(map=map)
        self.handler = handler
        self.create_socket(socket.AF_INET, socket.SOCK_STREAM)
        self.set_reuse_addr()
        self.bind(("127.0.0.1", 0))
        self.listen(1024)

    def handle_accepted(self, sock: socket.socket, addr: Any) -> None:
        self.handler(sock, map=self._map)


def chat_echo_class() -> Any:
    import asynchat

    class LineEcho(asynchat.async_chat):
        def __init__(self, sock: socket.socket, map: Any = None) -> None:
            super().__init__(sock, map=map)
            self.set_terminator(b"\n")
            self.parts: List[bytes] = []

        def collect_incoming_data(self, data: bytes) -> None:
            self.parts.append(bytes(data))

        def found_terminator(self) -> None:
            line = b"".join(self.parts)
            self.parts = []
            self.push(line + b"\n")

    return LineEcho


def lines(data: bytes) -> bytes:
    """Random bytes made into newline-terminated lines of up to 200 bytes."""
    data = data.replace(b"\n", b" ")
    return b"".join(data[i : i + 200] + b"\n" for i in range(0, len(data), 200))


SERVERS: Dict[str, Callable[[], Any]] = {
    "echo": lambda: (Echo, lambda b: b),
    "chat": lambda: (chat_echo_class(), lines),
}


def report(name: str, stats: SoakStats, seconds: float, leaked: int, capsys: Any) -> None:
    with capsys.disabled():
        print(
            f"\nsoak[{name}]: {stats.connections} connections churned in {seconds:.1f}s, "
            f"{stats.bytes_verified} bytes verified, faults {dict(sorted(stats.faults.items()))}, "
            f"descriptors leaked {leaked}"
        )


@pytest.mark.timeout(900 if SLOW else 120)
@pytest.mark.parametrize("server", sorted(SERVERS))
@pytest.mark.parametrize("use_poll", [False, True], ids=["select-semantics", "poll-semantics"])
def test_soak_churn_leaves_nothing_behind(server: str, use_poll: bool, capsys: Any) -> None:
    handler, frame = SERVERS[server]()
    total = 20_000 if SLOW else 1_500
    concurrency = 500 if SLOW else 100
    channels.release(channels.socket_map)
    fds_before = open_fds()
    the_map = asyncore_ng.ChannelMap()
    listener = Listener(handler, the_map)
    reactor = asyncore_ng.get_reactor(the_map)
    timers_before = reactor.pending_timers()
    start = time.monotonic()
    stats = churn(
        listener.socket.getsockname(),
        total=total,
        concurrency=concurrency,
        seed=1234,
        run_pass=lambda: asyncore.loop(timeout=0.05, use_poll=use_poll, map=the_map, count=1),
        frame=frame,
        map=the_map,
    )
    # Let the server side notice the last closes.
    deadline = time.monotonic() + 10
    while len(the_map) > 1 and time.monotonic() < deadline:
        asyncore.loop(timeout=0.05, use_poll=use_poll, map=the_map, count=1)
    seconds = time.monotonic() - start
    assert stats.errors == []
    assert list(the_map.values()) == [listener]
    binding = channels.existing_binding(the_map)
    assert binding is not None and set(binding.registrations()) == set(the_map)
    assert reactor.pending_timers() == timers_before
    assert stats.bytes_verified > 0 and stats.faults["reset"] > 0 and stats.faults["half-close"] > 0
    asyncore.close_all(the_map)
    leaked = open_fds() - fds_before
    report(f"{server}, {'poll' if use_poll else 'select'} semantics", stats, seconds, leaked, capsys)
    assert leaked <= 0
