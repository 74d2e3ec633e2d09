"""Bulk input (``ng_bulk_input``, off by default): read-ahead, bursts of handle_read calls
within a pass, and corked replies. What must not change: the bytes, their order, the end of
input after the last byte, pausing, hang-ups, classes that are asked every pass, fake sockets."""

from __future__ import annotations

import asyncore
import contextlib
import io
import socket
import sys
import threading
from typing import Any, Dict, Iterator, List, Tuple

import pytest
from conftest import run_until

from asyncore_ng import buffered
from asyncore_ng import loop as channels

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


class Echo(asyncore.dispatcher_with_send):
    ng_bulk_input = True

    def __init__(self, sock: socket.socket, map: Dict[Any, Any]) -> None:
        super().__init__(sock, map)
        self.reads: List[int] = []
        self.closes = 0

    def handle_read(self) -> None:
        data = self.recv(8192)
        self.reads.append(len(data))
        if data:
            self.send(data)

    def handle_close(self) -> None:
        self.closes += 1
        super().handle_close()  # at end of input: what is queued goes out first, then close


def _pump(peer: socket.socket, payload: bytes, got: bytearray, done: threading.Event) -> None:
    peer.sendall(payload)
    peer.shutdown(socket.SHUT_WR)
    while True:
        chunk = peer.recv(65536)
        if not chunk:
            break
        got += chunk
    done.set()


@pytest.mark.parametrize("use_poll", [False, True], ids=["select-semantics", "poll-semantics"])
def test_bulk_echo_is_byte_exact_and_ends_after_the_last_byte(use_poll: bool) -> None:
    m: Dict[Any, Any] = {}
    ours, theirs = socket.socketpair()
    echo = Echo(ours, m)
    reactor = channels.get_reactor(m)
    got = bytearray()
    done = threading.Event()
    peer = threading.Thread(target=_pump, args=(theirs, PAYLOAD, got, done))
    peer.start()
    try:
        run_until(done.is_set, map=m, use_poll=use_poll, timeout=30)
        passes = reactor.statistics()["passes"]
    finally:
        peer.join(10)
        theirs.close()
        asyncore.close_all(m)
        channels.unbind(m)
    assert bytes(got) == PAYLOAD
    assert sum(echo.reads) == len(PAYLOAD)
    assert all(n <= 8192 for n in echo.reads)  # recv never returns more than asked
    assert echo.reads[-1] == 0 and echo.closes == 1  # the end of input came after the data
    assert passes < len(echo.reads) / 2  # it read ahead, and bursts made several reads a pass


@contextlib.contextmanager
def _in_bulk(cls: Any, first: bytes = b"x" * 8192) -> Iterator[Tuple[Echo, socket.socket]]:
    """A ``cls`` channel on a socket pair with room for a burst, reading in bulk after one pass
    that read ``first`` (its echo taken): the channel and the peer's socket."""
    m: Dict[Any, Any] = {}
    ours, theirs = socket.socketpair()
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    theirs.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    echo = cls(ours, m)
    try:
        theirs.sendall(first)  # the first read is answered in full: bulk from now on
        asyncore.loop(timeout=1, map=m, count=1)
        assert echo.reads == [8192] and echo._ng_bulk
        assert _recv_exactly(theirs, len(first)) == first
        yield echo, theirs
    finally:
        theirs.close()
        asyncore.close_all(m)
        channels.unbind(m)


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    got = b""
    while len(got) < size:
        got += sock.recv(1 << 20)
    return got


def test_a_burst_makes_several_reads_in_one_pass() -> None:
    with _in_bulk(Echo) as (echo, theirs):
        theirs.sendall(b"y" * (8192 * 10))
        asyncore.loop(timeout=1, map=echo._map, count=1)
        assert echo.reads[1:] == [8192] * 10  # one pass, a burst of ten reads
        assert not echo.out_buffer  # the corked replies went out when the burst ended
        assert _recv_exactly(theirs, 8192 * 10) == b"y" * (8192 * 10)


def test_a_burst_dispatches_through_a_replaced_module_read(monkeypatch: pytest.MonkeyPatch) -> None:
    # The burst calls asyncore.read, looked up at each read, once a program replaced it (as the
    # stdlib's poll() looked it up for each event); the library's own is run inline.
    calls: List[int] = []
    original = asyncore.read

    def counting_read(obj: Any) -> None:
        calls.append(len(obj.reads))
        original(obj)

    with _in_bulk(Echo) as (echo, theirs):
        monkeypatch.setattr(asyncore, "read", counting_read)
        theirs.sendall(b"y" * (8192 * 10))
        asyncore.loop(timeout=1, map=echo._map, count=1)
        assert echo.reads[1:] == [8192] * 10  # (a burst)
        assert calls == list(range(1, 11))  # every read of the pass, the burst's included
        assert _recv_exactly(theirs, 8192 * 10) == b"y" * (8192 * 10)


def test_a_burst_keeps_no_reference_to_the_replies() -> None:
    # Corked replies are copied: each is freed as soon as the program drops it. Kept until the
    # burst ended, they were freed together beside the input they were cut from, and glibc gave
    # that memory back to the kernel and took it again for the next read (page faults on every
    # byte of a stream).
    extra_references: List[int] = []

    class Counting(Echo):
        def handle_read(self) -> None:
            data = self.recv(8192)
            self.reads.append(len(data))
            unsent = bytes(bytearray(data))  # (a new object: bytes(data) is data)
            self.send(data)
            extra_references.append(sys.getrefcount(data) - sys.getrefcount(unsent))

    with _in_bulk(Counting) as (echo, theirs):
        theirs.sendall(b"y" * (8192 * 10))
        asyncore.loop(timeout=1, map=echo._map, count=1)
        assert echo.reads[1:] == [8192] * 10  # (a burst)
        assert extra_references == [0] * 11
        assert _recv_exactly(theirs, 8192 * 10) == b"y" * (8192 * 10)


def test_a_bytearray_changed_after_send_in_a_burst_goes_out_as_it_was() -> None:
    class Reusing(Echo):
        def handle_read(self) -> None:
            data = self.recv(8192)
            self.reads.append(len(data))
            reply = bytearray(data)
            self.send(memoryview(reply) if len(self.reads) % 2 else reply)
            reply[:] = b"z" * len(reply)  # (the program's buffer, reused once send() returned)

    payload = bytes(range(256)) * 32 * 10  # ten reads of 8 KiB
    with _in_bulk(Reusing) as (echo, theirs):
        theirs.sendall(payload)
        asyncore.loop(timeout=1, map=echo._map, count=1)
        assert echo.reads[1:] == [8192] * 10  # (a burst)
        assert _recv_exactly(theirs, len(payload)) == payload


def test_a_burst_of_replies_larger_than_its_input_all_go_out_and_no_large_buffer_is_kept() -> None:
    class Amplifying(Echo):
        def handle_read(self) -> None:
            data = self.recv(8192)
            self.reads.append(len(data))
            self.send(data * 8 if len(self.reads) > 1 else data)  # (the first read: an echo)

    payload = bytes(range(256)) * 32 * 20  # 20 reads of 8 KiB: 1.25 MiB of replies in one burst
    with _in_bulk(Amplifying) as (echo, theirs):
        buffered._spare_corks.clear()
        theirs.sendall(payload)
        asyncore.loop(timeout=1, map=echo._map, count=1)
        assert echo.reads[1:] == [8192] * 20  # (a burst)
        got = bytearray()
        theirs.setblocking(False)
        while len(got) < 8 * len(payload):
            asyncore.loop(timeout=0.1, map=echo._map, count=1)  # (what the kernel left)
            try:
                got += theirs.recv(1 << 20)
            except BlockingIOError:
                pass
        expected = b"".join(payload[i : i + 8192] * 8 for i in range(0, len(payload), 8192))
        assert bytes(got) == expected
        sizes = [cork.seek(0, io.SEEK_END) for cork in buffered._spare_corks]
        for cork in buffered._spare_corks:
            cork.seek(0)
        assert all(size <= 1 << 20 for size in sizes)  # (not the burst's cork: 19 replies of 64 KiB)


def test_without_bulk_input_each_pass_makes_one_read() -> None:
    m: Dict[Any, Any] = {}
    ours, theirs = socket.socketpair()
    echo = Echo(ours, m)
    echo.ng_bulk_input = False
    try:
        theirs.sendall(b"z" * (8192 * 4))
        for expected in range(1, 5):
            asyncore.loop(timeout=1, map=m, count=1)
            assert len(echo.reads) == expected
        assert not echo._ng_bulk
    finally:
        theirs.close()
        asyncore.close_all(m)
        channels.unbind(m)


def test_a_class_asked_every_pass_never_bursts() -> None:
    m: Dict[Any, Any] = {}
    ours, theirs = socket.socketpair()
    ticks: List[int] = []

    class Ticking(Echo):
        def readable(self) -> bool:  # a per-pass tick: must see every pass
            ticks.append(len(self.reads))
            return True

    echo = Ticking(ours, m)
    try:
        theirs.sendall(b"w" * (8192 * 4))
        for _ in range(4):
            asyncore.loop(timeout=1, map=m, count=1)
        assert echo.reads == [8192] * 4
        assert ticks == [0, 1, 2, 3]
        assert not echo._ng_bulk
    finally:
        theirs.close()
        asyncore.close_all(m)
        channels.unbind(m)


def test_pausing_stops_a_burst_and_held_input_waits_for_resume() -> None:
    m: Dict[Any, Any] = {}
    ours, theirs = socket.socketpair()

    class Pausing(Echo):
        def handle_read(self) -> None:
            super().handle_read()
            if len(self.reads) == 3:
                self.pause_reading()

    echo = Pausing(ours, m)
    try:
        theirs.sendall(b"p" * 8192)
        asyncore.loop(timeout=1, map=m, count=1)
        theirs.sendall(b"q" * (8192 * 6))
        asyncore.loop(timeout=0.05, map=m, count=3)
        assert echo.reads == [8192, 8192, 8192]  # paused inside the burst: nothing more
        echo.resume_reading()
        asyncore.loop(timeout=1, map=m, count=1)
        assert echo.reads == [8192] * 7  # the held input, delivered without a kernel event
    finally:
        theirs.close()
        asyncore.close_all(m)
        channels.unbind(m)


def test_close_inside_a_burst_sends_the_replies_made_before_it() -> None:
    m: Dict[Any, Any] = {}
    ours, theirs = socket.socketpair()

    class Closing(Echo):
        def handle_read(self) -> None:
            super().handle_read()
            if len(self.reads) == 4:
                self.close()

    echo = Closing(ours, m)
    try:
        theirs.sendall(b"a" * 8192)
        asyncore.loop(timeout=1, map=m, count=1)
        theirs.sendall(b"b" * (8192 * 8))
        asyncore.loop(timeout=1, map=m, count=1)
        assert len(echo.reads) == 4 and not m
        got = b""
        while True:
            chunk = theirs.recv(1 << 20)
            if not chunk:
                break
            got += chunk
        assert got == b"a" * 8192 + b"b" * (8192 * 3)
    finally:
        theirs.close()
        channels.unbind(m)


def test_a_fake_socket_never_reads_ahead() -> None:
    class Fake:
        def __init__(self) -> None:
            self.asked: List[int] = []

        def recv(self, n: int) -> bytes:
            self.asked.append(n)
            return b"f" * n

        def fileno(self) -> int:
            return -1

        def setblocking(self, flag: bool) -> None:
            pass

    echo = asyncore.dispatcher_with_send()
    echo.ng_bulk_input = True
    echo.socket = Fake()
    assert echo.recv(10) == b"f" * 10
    assert echo.recv(10) == b"f" * 10
    assert echo.socket.asked == [10, 10]
