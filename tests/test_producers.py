"""The output side (asyncore_ng.producers): the output queue, simple producer, old fifo."""

from __future__ import annotations

from collections import deque
from typing import Any, Callable, List, Optional, Sequence, Union

import pytest
from chat_support import stdlib_asynchat, unhurried
from hypothesis import given
from hypothesis import strategies as st

from asyncore_ng.producers import CLOSE, Fifo, OutputQueue, QueueSignal, SimpleProducer


class ListProducer:
    """A producer handing out given pieces, then b"" (counting calls after exhaustion)."""

    def __init__(self, pieces: Sequence[bytes]) -> None:
        self.pieces = list(pieces)
        self.calls_after_end = 0

    def more(self) -> bytes:
        if self.pieces:
            return self.pieces.pop(0)
        self.calls_after_end += 1
        return b""


class FakeSocket:
    """Takes at most the next scripted count of bytes per send (0 = would block)."""

    def __init__(self, counts: Sequence[int] = (1 << 30,)) -> None:
        self.counts = list(counts)
        self.turn = 0
        self.sends: List[bytes] = []

    def send(self, data: Any) -> int:
        data = bytes(data)
        if not data:
            return 0
        taken = data[: self.counts[self.turn % len(self.counts)]]
        self.turn += 1
        self.sends.append(taken)
        return len(taken)

    @property
    def sent(self) -> bytes:
        return b"".join(self.sends)


def drain(
    queue: OutputQueue, chunk_size: int, sock: FakeSocket, encoding: Optional[str] = None
) -> Union[QueueSignal, None]:
    """Send until the queue is empty or its close marker comes up, as initiate_send does
    (one send per call, called again while there is something to send)."""
    while True:
        chunk = queue.next_chunk(chunk_size, encoding)
        if chunk is None or chunk is CLOSE:
            return chunk
        queue.consume(sock.send(chunk))


# -- OutputQueue -------------------------------------------------------------------------------


def test_is_a_deque() -> None:
    queue = OutputQueue([b"a", b"b"])
    assert isinstance(queue, deque)
    queue.appendleft(b"0")
    queue.rotate(1)
    assert list(queue) == [b"b", b"0", b"a"]
    assert queue.maxlen is None


def test_small_push_queues_the_object_itself() -> None:
    queue = OutputQueue()
    data = b"hello"
    queue.push(data, 8)
    assert queue[0] is data


def test_large_push_is_cut_into_views_of_the_pushed_bytes() -> None:
    queue = OutputQueue()
    data = bytes(range(256)) * 4
    queue.push(data, 300)
    assert [len(entry) for entry in queue] == [300, 300, 300, 124]  # type: ignore[arg-type]
    for entry in queue:
        assert isinstance(entry, memoryview)
        assert entry.obj is data  # zero-copy
    assert b"".join(queue) == data  # type: ignore[arg-type]


def test_large_bytearray_push_is_copied_once() -> None:
    queue = OutputQueue()
    data = bytearray(b"x" * 100)
    queue.push(data, 30)
    data[:] = b"changed"  # resizing must work: the queue does not pin the caller's buffer
    assert b"".join(queue) == b"x" * 100  # type: ignore[arg-type]


def test_push_counts_bytes_of_wide_memoryviews() -> None:
    import array

    queue = OutputQueue()
    numbers = array.array("i", range(10))
    queue.push(memoryview(numbers), 8)
    sock = FakeSocket()
    drain(queue, 8, sock)
    assert sock.sent == numbers.tobytes()


@pytest.mark.parametrize("bad", ["text", 10, None, [b"x"]])
def test_push_rejects_what_is_not_bytes_like(bad: Any) -> None:
    with pytest.raises(TypeError, match="byte-ish"):
        OutputQueue().push(bad, 8)


def test_next_chunk_does_not_remove_and_consume_does() -> None:
    queue = OutputQueue([b"abcdef"])
    assert queue.next_chunk(4) == b"abcd"
    assert queue.next_chunk(4) == b"abcd"
    queue.consume(3)
    assert bytes(queue.next_chunk(4)) == b"def"  # type: ignore[arg-type]
    queue.consume(3)
    assert not queue
    assert queue.next_chunk(4) is None


def test_partial_send_leaves_a_view_of_the_entry() -> None:
    data = b"0123456789"
    queue = OutputQueue([data])
    queue.consume(4)
    head = queue[0]
    assert isinstance(head, memoryview) and head.obj is data
    queue.consume(2)
    assert bytes(queue[0]) == b"6789"  # type: ignore[arg-type]
    assert queue[0].obj is data  # type: ignore[union-attr]


def test_producers_are_drained_until_empty_result() -> None:
    producer = ListProducer([b"one", b"two", b"three"])
    queue = OutputQueue([b"<", producer, b">"])
    sock = FakeSocket()
    assert drain(queue, 64, sock) is None
    assert sock.sends == [b"<", b"one", b"two", b"three", b">"]
    assert producer.calls_after_end == 1


def test_producer_output_larger_than_chunk_is_cut() -> None:
    queue = OutputQueue([ListProducer([b"abcdefgh"])])
    sock = FakeSocket()
    drain(queue, 3, sock)
    assert sock.sends == [b"abc", b"def", b"gh"]


def test_producer_returning_none_counts_as_done() -> None:
    class NoneProducer:
        def more(self) -> None:
            return None

    queue = OutputQueue([NoneProducer(), b"after"])
    assert queue.next_chunk(10) == b"after"


def test_close_marker_and_empty_entries() -> None:
    queue = OutputQueue([b"", b"data", None, b"never"])
    sock = FakeSocket()
    assert drain(queue, 10, sock) is CLOSE
    assert sock.sent == b"data"
    assert list(queue) == [b"never"]


def test_str_entries_need_an_encoding() -> None:
    queue = OutputQueue(["h\xe9llo"])
    with pytest.raises(TypeError, match="use_encoding"):
        queue.next_chunk(10)
    sock = FakeSocket()
    drain(queue, 10, sock, encoding="latin-1")
    assert sock.sent == "h\xe9llo".encode("latin-1")


def test_str_entries_are_counted_in_bytes_when_sent_in_pieces() -> None:
    # A multi-byte encoding: send counts are bytes, not characters (the stdlib mixed them).
    text = "\u20ac uro \u00e9t\u00e9 " * 50
    queue = OutputQueue([text, ListProducer(["produced \u00e9".encode()]), "\u00e0 la fin"])
    sock = FakeSocket([7, 3, 11])
    drain(queue, 16, sock, encoding="utf-8")
    assert sock.sent == (text + "produced \u00e9\u00e0 la fin").encode()


def test_other_sliceables_are_sliced() -> None:
    queue = OutputQueue([bytearray(b"abcdef")])
    sock = FakeSocket([4])
    drain(queue, 10, sock)
    assert sock.sends == [b"abcd", b"ef"]


def test_would_block_keeps_everything() -> None:
    queue = OutputQueue([b"abc"])
    queue.consume(FakeSocket([0]).send(queue.next_chunk(10)))
    assert list(queue) == [b"abc"]


# -- change reports ------------------------------------------------------------------------------


class Reports:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


@pytest.mark.parametrize(
    "fill",
    [
        lambda q: q.append(b"x"),
        lambda q: q.appendleft(b"x"),
        lambda q: q.extend([b"x", b"y"]),
        lambda q: q.extendleft([b"x"]),
        lambda q: q.insert(0, b"x"),
        lambda q: q.__iadd__([b"x"]),
        lambda q: q.push(b"x" * 100, 10),
    ],
)
def test_filling_an_empty_queue_is_reported(fill: Callable[[OutputQueue], Any]) -> None:
    reports = Reports()
    queue = OutputQueue(on_change=reports)
    fill(queue)
    assert reports.count == 1
    fill(queue)  # already non-empty: no change of answer
    assert reports.count == 1


@pytest.mark.parametrize(
    "empty",
    [
        lambda q: q.popleft(),
        lambda q: q.pop(),
        lambda q: q.remove(b"x"),
        lambda q: q.clear(),
        lambda q: q.__delitem__(0),
        lambda q: q.__imul__(0),
        lambda q: q.consume(1),
    ],
)
def test_emptying_the_queue_is_reported(empty: Callable[[OutputQueue], Any]) -> None:
    reports = Reports()
    queue = OutputQueue([b"x"], on_change=reports)
    empty(queue)
    assert not queue
    assert reports.count == 1


def test_changes_that_keep_it_non_empty_are_not_reported() -> None:
    reports = Reports()
    queue = OutputQueue([b"a", b"b"], on_change=reports)
    queue.popleft()
    queue.append(b"c")
    queue[0] = b"z"
    queue.clear()
    queue.clear()
    queue.extend([])
    assert reports.count == 1  # only the clear that emptied it


def test_draining_reports_once_at_the_end() -> None:
    reports = Reports()
    queue = OutputQueue(on_change=reports)
    queue.push(b"x" * 1000, 100)
    queue.append(ListProducer([b"p"] * 5))
    assert reports.count == 1
    drain(queue, 100, FakeSocket([37]))
    assert reports.count == 2


# -- properties: what goes in comes out, whatever send takes -------------------------------------

entries = st.one_of(
    st.binary(max_size=50),
    st.binary(max_size=50).map(bytearray),
    st.binary(max_size=50).map(memoryview),
    st.lists(st.binary(min_size=1, max_size=20), max_size=4).map(ListProducer),
)


def expected_output(items: Sequence[Any]) -> bytes:
    return b"".join(b"".join(item.pieces) if isinstance(item, ListProducer) else item for item in items)


@unhurried
@given(
    items=st.lists(st.tuples(st.booleans(), entries), max_size=10),
    chunk_size=st.integers(min_value=1, max_value=40),
    counts=st.lists(st.integers(min_value=0, max_value=30), min_size=1, max_size=5).filter(any),
)
def test_everything_pushed_is_sent_in_order(items: List[Any], chunk_size: int, counts: List[int]) -> None:
    queue = OutputQueue()
    wanted = expected_output([item for _, item in items])
    for pushed, item in items:
        if pushed and not isinstance(item, ListProducer):
            queue.push(item, chunk_size)
        else:
            queue.append(item)
    sock = FakeSocket(counts)
    assert drain(queue, chunk_size, sock) is None
    assert sock.sent == wanted
    assert all(len(piece) <= chunk_size for piece in sock.sends)


@unhurried
@given(
    items=st.lists(st.binary(min_size=1, max_size=50), max_size=10),
    chunk_size=st.integers(min_value=1, max_value=40),
    counts=st.lists(st.integers(min_value=1, max_value=30), min_size=1, max_size=5),
)
def test_same_sends_as_the_stdlib(items: List[bytes], chunk_size: int, counts: List[int]) -> None:
    asynchat = stdlib_asynchat()

    class StdlibChat(asynchat.async_chat):  # type: ignore[name-defined, misc]
        ac_out_buffer_size = chunk_size
        connected = True

        def __init__(self) -> None:
            super().__init__()
            self.fake = FakeSocket(counts)

        def send(self, data: Any) -> int:
            return self.fake.send(data)

    chat = StdlibChat()
    ours = OutputQueue()
    for item in items:
        chat.producer_fifo.append(ListProducer([item, item]))
        chat.push(item)
        ours.append(ListProducer([item, item]))
        ours.push(item, chunk_size)
    while chat.producer_fifo:
        chat.initiate_send()
    sock = FakeSocket(counts)
    drain(ours, chunk_size, sock)
    assert sock.sends == chat.fake.sends


# -- SimpleProducer ------------------------------------------------------------------------------


def test_simple_producer_hands_out_buffer_size_pieces() -> None:
    producer = SimpleProducer(b"abcdefghij", buffer_size=4)
    assert producer.data == b"abcdefghij"
    assert producer.more() == b"abcd"
    assert producer.data == b"efghij"
    assert producer.more() == b"efgh"
    assert producer.more() == b"ij"
    assert producer.more() == b""
    assert producer.more() == b""
    assert producer.data == b""


def test_simple_producer_default_size_and_data_assignment() -> None:
    producer = SimpleProducer(b"x" * 1000)
    assert len(producer.more()) == 512
    producer.data = b"new"
    assert producer.more() == b"new"


def test_simple_producer_is_linear() -> None:
    # 16 MiB in 512-byte pieces: re-slicing the rest each time would copy ~256 GB.
    data = b"y" * (16 * 1024 * 1024)
    producer = SimpleProducer(data)
    total = 0
    while True:
        piece = producer.more()
        if not piece:
            break
        total += len(piece)
    assert total == len(data)


@unhurried
@given(data=st.binary(max_size=100), size=st.integers(min_value=1, max_value=30))
def test_simple_producer_matches_the_stdlib(data: bytes, size: int) -> None:
    theirs = stdlib_asynchat().simple_producer(data, size)
    ours = SimpleProducer(data, size)
    for _ in range(len(data) // size + 3):
        assert ours.more() == theirs.more()
        assert ours.data == theirs.data


# -- Fifo --------------------------------------------------------------------------------------


def test_fifo_keeps_the_old_api_and_warns() -> None:
    with pytest.warns(DeprecationWarning, match="deque"):
        fifo = Fifo()
    assert fifo.is_empty() and len(fifo) == 0
    assert fifo.pop() == (0, None)
    fifo.push(b"a")
    fifo.push(b"b")
    assert len(fifo) == 2 and not fifo.is_empty()
    assert fifo.first() == b"a"
    assert fifo.pop() == (1, b"a")
    assert fifo.pop() == (1, b"b")
    with pytest.warns(DeprecationWarning):
        assert list(Fifo([1, 2]).list) == [1, 2]
