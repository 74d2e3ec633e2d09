"""async_chat behaviour: framing through the real class, output, interest, the input limit.

The first part drives ``handle_read`` with a scripted ``recv`` (no sockets); the second runs
channels over loopback socket pairs and TCP on every poller backend.
"""

from __future__ import annotations

import asynchat
import asyncore
import hashlib
import logging
import socket
import sys
from typing import Any, Iterator, List, Optional, Sequence, Tuple

import pytest
from chat_support import (
    Message,
    chat_trace,
    chunk_sizes,
    cut,
    expected,
    scripts,
    stdlib_asynchat,
    stream,
    unhurried,
    whole_and_bytewise,
)
from conftest import run_until
from hypothesis import given

import asyncore_ng
from asyncore_ng.chat import AsyncChat
from asyncore_ng.producers import OutputQueue

# -- without sockets: handle_read with a scripted recv ---------------------------------------


class ScriptedChat(AsyncChat):
    """Receives a script (see chat_support): switches terminators inside found_terminator."""

    def __init__(self, script: Sequence[Message]) -> None:
        super().__init__()
        self.script = list(script)
        self.turn = 0
        self.set_terminator(self.script[0].terminator if self.script else None)
        self.messages: List[bytes] = []
        self.reads: List[Any] = []
        self.errors = 0

    def recv(self, buffer_size: int) -> bytes:
        item = self.reads.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item  # type: ignore[no-any-return]

    def receive(self, chunk: Any) -> None:
        self.reads.append(chunk)
        self.handle_read()

    def collect_incoming_data(self, data: bytes) -> None:
        assert data
        self._collect_incoming_data(data)

    def found_terminator(self) -> None:
        self.messages.append(self._get_data())
        self.turn += 1
        self.set_terminator(self.script[self.turn].terminator if self.turn < len(self.script) else None)

    def handle_error(self) -> None:
        self.errors += 1


@unhurried
@given(script=scripts(), sizes=chunk_sizes())
def test_chat_sees_exactly_the_messages_whatever_the_chunking(
    script: List[Message], sizes: List[int]
) -> None:
    data = stream(script)
    for chunks in [list(cut(data, sizes)), *whole_and_bytewise(data)]:
        chat = ScriptedChat(script)
        for chunk in chunks:
            chat.receive(chunk)
        assert (chat.messages, b"".join(chat.incoming)) == expected(script)
        assert chat.errors == 0


@unhurried
@given(script=scripts(), sizes=chunk_sizes())
def test_get_terminator_override_is_consulted_at_every_step(script: List[Message], sizes: List[int]) -> None:
    # Same script, but the terminator comes from get_terminator, as some programs compute it.
    class Computed(ScriptedChat):
        def get_terminator(self) -> Any:
            return self.terminator

    chat = Computed(script)
    for chunk in cut(stream(script), sizes):
        chat.receive(chunk)
    assert (chat.messages, b"".join(chat.incoming)) == expected(script)


@unhurried
@given(script=scripts(), sizes=chunk_sizes())
def test_same_calls_as_the_stdlib(script: List[Message], sizes: List[int]) -> None:
    # Every collect_incoming_data chunk, found_terminator and get_terminator call, the
    # decremented byte count and ac_in_buffer after each read: all the stdlib's (3.11 only).
    base = stdlib_asynchat().async_chat
    data = stream(script)
    for chunks in [list(cut(data, sizes)), *whole_and_bytewise(data)]:
        assert chat_trace(AsyncChat, script, chunks) == chat_trace(base, script, chunks)


def test_int_terminator_counts_down_to_zero_as_in_the_stdlib() -> None:
    class Counting(AsyncChat):
        def collect_incoming_data(self, data: bytes) -> None:
            self.seen.append((data, self.terminator))

        def found_terminator(self) -> None:
            self.seen.append((b"found", self.terminator))

    chat = Counting()
    chat.seen = []
    chat.set_terminator(5)
    chat.recv = lambda size: b"abc"  # type: ignore[method-assign]
    chat.handle_read()
    assert chat.terminator == 2
    chat.recv = lambda size: b"defg"  # type: ignore[method-assign]
    chat.handle_read()
    # collect sees the count before its update; found_terminator sees 0; after that, 0 is
    # "no terminator" and the rest is collected.
    assert chat.seen == [(b"abc", 5), (b"de", 2), (b"found", 0), (b"fg", 0)]


def test_ac_in_buffer_shows_the_rest_and_can_be_discarded_in_found_terminator() -> None:
    class Discarding(ScriptedChat):
        def found_terminator(self) -> None:
            self.rest = self.ac_in_buffer
            super().found_terminator()
            self.ac_in_buffer = b""

    chat = Discarding([Message(b"\n", b"one"), Message(b"\n", b"two")])
    chat.receive(b"one\ntwo\nthree")
    assert chat.messages == [b"one"]
    assert chat.rest == b"two\nthree"
    assert chat.ac_in_buffer == b""
    chat.receive(b"x\r")
    assert chat.ac_in_buffer == b""  # terminator b"\n": nothing held
    chat.set_terminator(b"\r\n")
    chat.receive(b"y\r")
    assert chat.ac_in_buffer == b"\r"


def test_str_terminator_is_encoded_only_with_use_encoding() -> None:
    chat = AsyncChat()
    chat.set_terminator("\r\n")
    assert chat.get_terminator() == "\r\n"
    chat.use_encoding = True
    chat.set_terminator("\xe9\n")
    assert chat.get_terminator() == b"\xe9\n"


def test_negative_terminator_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        AsyncChat().set_terminator(-1)


def test_recv_errors() -> None:
    chat = ScriptedChat([Message(b"\n", b"x")])
    chat.receive(BlockingIOError())
    assert chat.errors == 0
    chat.receive(OSError("boom"))
    assert chat.errors == 1


def test_push_type_checks() -> None:
    chat = AsyncChat()
    for bad in ("text", 10, None):
        with pytest.raises(TypeError, match="byte-ish"):
            chat.push(bad)  # type: ignore[arg-type]
    assert not chat.producer_fifo


def test_producer_fifo_is_a_deque_and_assignments_keep_it_an_output_queue() -> None:
    from collections import deque

    chat = AsyncChat()
    assert isinstance(chat.producer_fifo, deque)
    chat.producer_fifo = deque([b"a", b"b"])  # type: ignore[assignment]
    assert isinstance(chat.producer_fifo, OutputQueue)
    assert list(chat.producer_fifo) == [b"a", b"b"]


def test_default_hooks_must_be_overridden() -> None:
    chat = AsyncChat()
    with pytest.raises(NotImplementedError):
        chat.collect_incoming_data(b"x")
    with pytest.raises(NotImplementedError):
        chat.found_terminator()


def test_input_limit_calls_the_handler_before_delivering_the_excess() -> None:
    class Limited(ScriptedChat):
        ng_in_buffer_limit = 8

        def handle_input_overflow(self) -> None:
            self.overflows = getattr(self, "overflows", 0) + 1

    chat = Limited([Message(b"\n", b"")] * 3)
    chat.receive(b"12345678\n123456789\nnext\n")
    assert chat.messages == [b"12345678"]
    assert chat.overflows == 1
    assert b"".join(chat.incoming) == b""  # the 9-byte line: nothing of it delivered
    assert chat.ac_in_buffer == b""  # the rest of that read is dropped
    chat.incoming.clear()
    chat.receive(b"again\n")  # a handler that keeps the channel open: framing goes on
    assert chat.messages == [b"12345678", b"again"]


# -- the shim -----------------------------------------------------------------------------


def test_shim_classes() -> None:
    chat = asynchat.async_chat()
    assert isinstance(chat, asyncore.dispatcher)
    assert isinstance(chat, asyncore_ng.Dispatcher)
    assert repr(chat).startswith("<asynchat.async_chat at 0x")
    assert asynchat.asyncore is asyncore
    assert asynchat.simple_producer(b"abc", 2).more() == b"ab"
    assert asynchat.find_prefix_at_end(b"ab\r", b"\r\n") == 1
    with pytest.warns(DeprecationWarning):
        asynchat.fifo()


def test_shim_exports_the_stdlib_public_names() -> None:
    if sys.version_info[:2] == (3, 11):
        theirs = {name for name in dir(stdlib_asynchat()) if not name.startswith("_")}
    else:
        theirs = {"async_chat", "asyncore", "deque", "find_prefix_at_end", "simple_producer"}
    assert theirs <= set(dir(asynchat))
    assert set(asynchat.__all__) == theirs | {"fifo"}


# -- over sockets --------------------------------------------------------------------------

loopback = pytest.mark.usefixtures("backend", "no_fd_leak")


class Peer(asyncore.dispatcher_with_send):
    """The other end: records what arrives and whether it saw end of stream."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(sock)
        self.received = bytearray()
        self.eof = False

    def handle_read(self) -> None:
        self.received += self.recv(65536)

    def handle_close(self) -> None:
        self.eof = True
        self.close()


class LineEcho(asynchat.async_chat):
    def __init__(self, sock: Optional[socket.socket] = None) -> None:
        super().__init__(sock)
        self.set_terminator(b"\r\n")
        self.lines: List[bytes] = []
        self.errors: List[Any] = []
        self.closed = False

    def collect_incoming_data(self, data: bytes) -> None:
        self._collect_incoming_data(data)

    def found_terminator(self) -> None:
        line = self._get_data()
        self.lines.append(line)
        self.push(line.upper() + b"\r\n")

    def handle_error(self) -> None:
        self.errors.append(sys.exc_info()[1])
        super().handle_error()

    def handle_close(self) -> None:
        self.closed = True
        super().handle_close()


@pytest.fixture
def pair() -> Iterator[Tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


@loopback
def test_line_echo(pair: Any, use_poll: bool) -> None:
    chat, peer = LineEcho(pair[0]), Peer(pair[1])
    for piece in [b"hello wor", b"ld\r", b"\nsecond line\r\n\r\nla", b"st\r\n"]:
        peer.send(piece)
    run_until(lambda: len(chat.lines) == 4, use_poll=use_poll)
    assert chat.lines == [b"hello world", b"second line", b"", b"last"]
    run_until(lambda: peer.received.count(b"\r\n") == 4, use_poll=use_poll)
    assert bytes(peer.received) == b"HELLO WORLD\r\nSECOND LINE\r\n\r\nLAST\r\n"
    assert not chat.errors


@loopback
def test_int_and_none_terminators(pair: Any) -> None:
    class LengthPrefixed(LineEcho):
        """b"<n>\\r\\n" then n bytes; b"END\\r\\n" switches to collecting everything."""

        def __init__(self, sock: socket.socket) -> None:
            super().__init__(sock)
            self.bodies: List[bytes] = []

        def found_terminator(self) -> None:
            data = self._get_data()
            if isinstance(self.terminator, int):  # a body (the count is now 0)
                self.bodies.append(data)
                self.set_terminator(b"\r\n")
            elif data == b"END":
                self.set_terminator(None)
            else:
                self.set_terminator(int(data))

    chat, peer = LengthPrefixed(pair[0]), Peer(pair[1])
    bodies = [b"x" * 10, b"\r\n\r\n", b"", b"y" * 100000]
    wire = b"".join(b"%d\r\n%s" % (len(body), body) for body in bodies if body)
    peer.send(wire + b"END\r\nthe rest\r\nof it")
    run_until(lambda: b"".join(chat.incoming) == b"the rest\r\nof it")
    assert chat.bodies == [body for body in bodies if body]


@loopback
def test_producers_and_pushes_go_out_in_order(pair: Any) -> None:
    class Generated:
        def __init__(self, count: int) -> None:
            self.pieces = iter([b"<%d>" % i for i in range(count)])

        def more(self) -> bytes:
            return next(self.pieces, b"")

    chat, peer = LineEcho(pair[0]), Peer(pair[1])
    chat.push(b"start|")
    chat.push_with_producer(asynchat.simple_producer(b"s" * 5000, buffer_size=700))
    chat.push_with_producer(Generated(1000))
    chat.push_with_producer(b"|bytes as a producer|")
    chat.push(memoryview(b"|end"))
    wanted = (
        b"start|" + b"s" * 5000 + b"".join(b"<%d>" % i for i in range(1000)) + b"|bytes as a producer||end"
    )
    run_until(lambda: len(peer.received) >= len(wanted))
    assert bytes(peer.received) == wanted
    assert not chat.producer_fifo


@loopback
def test_close_when_done_closes_after_the_queue_is_sent(pair: Any, use_poll: bool) -> None:
    chat, peer = LineEcho(pair[0]), Peer(pair[1])
    big = bytes(range(256)) * 4096  # 1 MiB: more than the socket buffer takes at once
    chat.push(big)
    chat.push_with_producer(asynchat.simple_producer(b"tail", 1))
    chat.close_when_done()
    chat.push(b"after close_when_done: never sent")
    assert not chat.closed
    run_until(lambda: peer.eof, use_poll=use_poll)
    assert chat.closed
    assert bytes(peer.received) == big + b"tail"


@loopback
def test_push_of_huge_data_is_sent_intact_from_views(pair: Any) -> None:
    chat, peer = LineEcho(pair[0]), Peer(pair[1])
    huge = hashlib.sha256(b"seed").digest() * (32 * 1024 * 1024 // 32)  # 32 MiB
    chat.push(huge)
    # Queued as views of the pushed object, not copies.
    assert all(entry.obj is huge for entry in chat.producer_fifo)  # type: ignore[union-attr]
    assert len(chat.producer_fifo) >= 32 * 1024 * 1024 // chat.ac_out_buffer_size - 1

    run_until(lambda: len(peer.received) >= len(huge), timeout=30)
    assert hashlib.sha256(peer.received).digest() == hashlib.sha256(huge).digest()


@loopback
def test_push_before_connect_is_sent_once_connected() -> None:
    class Listener(asyncore.dispatcher):
        def __init__(self) -> None:
            super().__init__()
            self.create_socket()
            self.bind(("127.0.0.1", 0))
            self.listen(5)
            self.peers: List[Peer] = []

        def handle_accepted(self, sock: socket.socket, addr: Any) -> None:
            self.peers.append(Peer(sock))

    listener = Listener()
    client = LineEcho()
    client.create_socket()
    client.connect(listener.socket.getsockname())
    client.push(b"queued before the connection was up\r\n")
    run_until(lambda: listener.peers and listener.peers[0].received.endswith(b"\r\n"))
    assert bytes(listener.peers[0].received) == b"queued before the connection was up\r\n"


@loopback
def test_input_limit_overflow_closes_cleanly(
    pair: Any, caplog: pytest.LogCaptureFixture, use_poll: bool
) -> None:
    class Limited(LineEcho):
        ng_in_buffer_limit = 1000

    chat, peer = Limited(pair[0]), Peer(pair[1])
    peer.send(b"short line\r\n" + b"x" * 5000)
    with caplog.at_level(logging.WARNING, logger="asyncore_ng"):
        run_until(lambda: peer.eof, use_poll=use_poll)
    assert chat.closed
    assert chat.lines == [b"short line"]
    assert chat.errors == []  # closed through handle_close, no traceback
    assert len(b"".join(chat.incoming)) <= 1000
    assert not chat.producer_fifo
    (record,) = [r for r in caplog.records if r.name == "asyncore_ng"]
    assert "ng_in_buffer_limit" in record.getMessage()
    assert "1000" in record.getMessage()


@loopback
def test_overflow_handler_may_answer_before_closing(pair: Any) -> None:
    class Polite(LineEcho):
        ng_in_buffer_limit = 100

        def handle_input_overflow(self) -> None:
            self.discard_buffers()
            self.push(b"500 line too long\r\n")
            self.close_when_done()

    chat, peer = Polite(pair[0]), Peer(pair[1])
    peer.send(b"y" * 1000)
    run_until(lambda: peer.eof)
    assert bytes(peer.received) == b"500 line too long\r\n"
    assert chat.closed


@loopback
def test_peer_that_never_sends_a_terminator_keeps_memory_bounded(pair: Any) -> None:
    limit = 64 * 1024

    class Hoarder(LineEcho):
        ng_in_buffer_limit = limit
        most_held = 0

        def handle_read(self) -> None:
            # (Measured between reads: inside collect_incoming_data, ac_in_buffer still holds
            # the data being collected, as in the stdlib.)
            super().handle_read()
            if not self.closed:
                held = sum(map(len, self.incoming)) + len(self.ac_in_buffer)
                self.most_held = max(self.most_held, held)

    chat, peer = Hoarder(pair[0]), Peer(pair[1])
    # 4 MiB without a terminator, sent as the socket accepts it; stops when we close.
    peer.send(b"z" * (4 * 1024 * 1024))
    run_until(lambda: chat.closed, timeout=30)
    assert chat.most_held <= limit + len(b"\r\n")
    assert chat.lines == []


@loopback
def test_idle_chat_predicates_are_not_asked_every_pass(pair: Any) -> None:
    class Counting(LineEcho):
        asked = 0

        @asyncore_ng.state_predicate
        def writable(self) -> bool:
            self.asked += 1
            return super().writable()

    chat, peer = Counting(pair[0]), Peer(pair[1])
    asyncore.loop(timeout=0.001, count=3)
    before = chat.asked
    asyncore.loop(timeout=0.001, count=20)
    assert chat.asked == before  # idle: nothing asked

    # Code outside any handler of this channel appends to producer_fifo directly (no
    # initiate_send): the queue's report makes the loop ask writable() again.
    chat.producer_fifo.append(b"appended directly\r\n")
    run_until(lambda: peer.received.endswith(b"\r\n"))
    assert bytes(peer.received) == b"appended directly\r\n"


@loopback
def test_undecorated_writable_override_is_asked_every_pass(pair: Any) -> None:
    class Gated(LineEcho):
        open_gate = False
        asked = 0

        def writable(self) -> bool:
            self.asked += 1
            return self.open_gate and super().writable()

    chat, peer = Gated(pair[0]), Peer(pair[1])
    chat.connected = False  # so push() queues instead of sending at once
    chat.push(b"held\r\n")
    chat.connected = True
    asyncore.loop(timeout=0.001, count=5)
    assert chat.asked >= 5 and not peer.received
    chat.open_gate = True  # no announcement: the loop asks anyway
    run_until(lambda: peer.received == b"held\r\n")
