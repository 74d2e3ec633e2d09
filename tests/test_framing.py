"""The sans-IO input framer (asyncore_ng.framing): terminators, chunking, limits, cost."""

from __future__ import annotations

from typing import Any, List, Optional, Sequence

import pytest
from chat_support import (
    Message,
    ScriptRecorder,
    Terminator,
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
from hypothesis import given
from hypothesis import strategies as st

from asyncore_ng.framing import InputFramer, InputOverflow, find_prefix_at_end


class ModelChat(ScriptRecorder):
    """The framer driven exactly as ``async_chat.handle_read`` drives it."""

    def __init__(self, script: Sequence[Message], limit: Optional[int] = None) -> None:
        self.framer = InputFramer()
        self.limit = limit
        self.start(script)

    def receive(self, chunk: bytes) -> None:
        more = self.framer.feed(chunk)
        while more:
            terminator = self.get_terminator()
            step = self.framer.next_step(terminator, self.limit)
            if step is None:
                return
            data, found, more = step
            if data:
                self.collect_incoming_data(data)
            if isinstance(terminator, int) and terminator:
                self.terminator = 0 if found else terminator - len(data)
            if found:
                self.found_terminator()


def play(script: Sequence[Message], chunks: Sequence[bytes], **kwargs: Any) -> ModelChat:
    chat = ModelChat(script, **kwargs)
    for chunk in chunks:
        chat.receive(chunk)
    return chat


# -- examples, each fed whole and byte by byte -------------------------------------------

EXAMPLES = {
    "lines": [Message(b"\n", b"hello"), Message(b"\n", b"world")],
    "crlf": [Message(b"\r\n", b"a\rb\nc"), Message(b"\r\n", b"\r")],
    "smtp data end": [Message(b"\r\n.\r\n", b"line\r\n.line\r\n\r\n")],
    "overlapping terminator": [Message(b"aab", b"a"), Message(b"aab", b"ba")],
    "empty messages": [Message(b"\n", b""), Message(b"\n", b""), Message(b"\n", b"x")],
    "byte count": [Message(5, b"hello"), Message(b"\n", b"rest")],
    "count after count": [Message(3, b"abc"), Message(1, b"d"), Message(4, b"\n\n\n\n")],
    "header then body then none": [
        Message(b"\r\n", b"LENGTH 4"),
        Message(4, b"\r\n\r\n"),
        Message(b"\r\n", b"DATA"),
        Message(None, b"everything \r\n else"),
    ],
}


@pytest.mark.parametrize("name", sorted(EXAMPLES))
@pytest.mark.parametrize("chunking", ["whole", "bytewise"])
def test_examples(name: str, chunking: str) -> None:
    script = EXAMPLES[name]
    whole, bytewise = whole_and_bytewise(stream(script))
    chat = play(script, whole if chunking == "whole" else bytewise)
    assert (chat.messages, chat.tail) == expected(script)
    assert len(chat.framer) == 0


@pytest.mark.parametrize("terminator", [None, b"", 0])
def test_false_terminator_collects_everything(terminator: Terminator) -> None:
    for chunks in whole_and_bytewise(b"no\nframing\r\nhere"):
        framer = InputFramer()
        got = []
        for chunk in chunks:
            framer.feed(chunk)
            step = framer.next_step(terminator)
            while step is not None:
                data, found, _ = step
                assert not found
                got.append(data)
                step = framer.next_step(terminator)
        assert b"".join(got) == b"no\nframing\r\nhere"


def test_split_terminator_is_held_and_the_rest_delivered_at_once() -> None:
    framer = InputFramer()
    framer.feed(b"abc\r\n.")
    assert framer.next_step(b"\r\n.\r\n") == (b"abc", False, False)
    assert framer.next_step(b"\r\n.\r\n") is None
    assert framer.pending == b"\r\n."  # only the possible beginning of the terminator
    framer.feed(b"\r")
    assert framer.next_step(b"\r\n.\r\n") is None
    framer.feed(b"\nnext")
    assert framer.next_step(b"\r\n.\r\n") == (b"", True, True)
    assert framer.next_step(b"\r\n.\r\n") == (b"next", False, False)


def test_false_start_of_a_terminator_is_data() -> None:
    framer = InputFramer()
    framer.feed(b"ab\r")
    assert framer.next_step(b"\r\n") == (b"ab", False, False)
    assert framer.next_step(b"\r\n") is None
    framer.feed(b"x\r\n")
    assert framer.next_step(b"\r\n") == (b"\rx", True, False)


def test_new_terminator_applies_to_held_bytes() -> None:
    # The held b"\r" is a possible start of b"\r\n", not of b"X": a changed terminator
    # must see it as data without new input (the stdlib re-examined its buffer too).
    framer = InputFramer()
    framer.feed(b"data\r")
    assert framer.next_step(b"\r\n") == (b"data", False, False)
    assert framer.next_step(b"\r\n") is None
    assert framer.next_step(b"X") == (b"\r", False, False)


def test_terminator_change_after_partial_use_of_held_bytes() -> None:
    # A byte count eats part of a tail held for b"abc"; back on b"abc", what is left
    # (b"b") can no longer start the terminator and must be delivered.
    framer = InputFramer()
    framer.feed(b"xab")
    assert framer.next_step(b"abc") == (b"x", False, False)
    assert framer.next_step(b"abc") is None
    assert framer.next_step(1) == (b"a", True, True)
    assert framer.next_step(b"abc") == (b"b", False, False)


def test_feed_says_whether_input_is_pending() -> None:
    framer = InputFramer()
    assert framer.feed(b"") is False
    assert framer.feed(b"a\r") is True
    assert framer.next_step(b"\r\n") == (b"a", False, False)
    assert framer.feed(b"") is True  # the held b"\r": a new terminator may release it
    assert framer.next_step(b"\r\n") is None
    assert framer.next_step(None) == (b"\r", False, False)
    assert framer.feed(b"") is False


def test_byte_count_across_reads() -> None:
    framer = InputFramer()
    framer.feed(b"hel")
    assert framer.next_step(5) == (b"hel", False, False)
    framer.feed(b"lo!")
    assert framer.next_step(2) == (b"lo", True, True)
    assert framer.next_step(0) == (b"!", False, False)


def test_reset_replaces_pending_input() -> None:
    framer = InputFramer()
    framer.feed(b"one\ntwo\n")
    assert framer.next_step(b"\n") == (b"one", True, True)
    assert framer.pending == b"two\n"
    framer.reset(b"x\n")
    assert framer.next_step(b"\n") == (b"x", True, False)
    framer.reset()
    assert framer.next_step(b"\n") is None
    assert len(framer) == 0


def test_bad_terminators() -> None:
    framer = InputFramer()
    framer.feed(b"data")
    with pytest.raises(TypeError, match="terminator must be bytes"):
        framer.next_step("\n")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="negative"):
        framer.next_step(-1)


# -- the input limit -----------------------------------------------------------------------


@pytest.mark.parametrize("chunking", ["whole", "bytewise"])
def test_limit_lets_messages_up_to_the_limit_through(chunking: str) -> None:
    script = [Message(b"\r\n", b"x" * 10), Message(10, b"y" * 10), Message(b"\r\n", b"")]
    whole, bytewise = whole_and_bytewise(stream(script))
    chat = play(script, whole if chunking == "whole" else bytewise, limit=10)
    assert chat.messages == [b"x" * 10, b"y" * 10, b""]


@pytest.mark.parametrize("chunking", ["whole", "bytewise"])
@pytest.mark.parametrize("script", [[Message(b"\r\n", b"x" * 11)], [Message(11, b"y" * 11)]])
def test_limit_overflow_does_not_depend_on_chunking(chunking: str, script: List[Message]) -> None:
    whole, bytewise = whole_and_bytewise(stream(script) + b"after")
    chat = ModelChat(script, limit=10)
    with pytest.raises(InputOverflow) as caught:
        for chunk in whole if chunking == "whole" else bytewise:
            chat.receive(chunk)
    assert caught.value.limit == 10
    assert caught.value.length > 10
    assert len(chat.tail) <= 10
    assert len(chat.framer) == 0  # all pending input dropped
    assert chat.framer.message_length == 0


def test_limit_bounds_what_a_peer_without_terminator_makes_us_hold() -> None:
    chat = ModelChat([Message(b"\n", b"")], limit=4096)
    delivered = 0
    with pytest.raises(InputOverflow):
        for _ in range(100):
            chat.receive(b"z" * 1000)
            delivered = len(chat.tail)
            assert delivered <= 4096
    assert delivered == 4000


def test_limit_with_no_terminator_caps_the_stream() -> None:
    framer = InputFramer()
    framer.feed(b"a" * 8)
    assert framer.next_step(None, limit=10) == (b"a" * 8, False, False)
    framer.feed(b"a" * 3)
    with pytest.raises(InputOverflow):
        framer.next_step(None, limit=10)


# -- properties ------------------------------------------------------------------------------


@unhurried
@given(script=scripts(), sizes=chunk_sizes())
def test_any_chunking_gives_exactly_the_messages(script: List[Message], sizes: List[int]) -> None:
    data = stream(script)
    for chunks in [list(cut(data, sizes)), *whole_and_bytewise(data)]:
        chat = ModelChat(script)
        for chunk in chunks:
            chat.receive(chunk)
            # Between reads only a possible start of a bytes terminator is held.
            if isinstance(chat.terminator, bytes):
                assert len(chat.framer) < len(chat.terminator)
            else:
                assert len(chat.framer) == 0
        assert (chat.messages, chat.tail) == expected(script)


@unhurried
@given(script=scripts(kinds=("bytes",), none_tail=False), sizes=chunk_sizes())
def test_bytes_terminators_only(script: List[Message], sizes: List[int]) -> None:
    chat = play(script, list(cut(stream(script), sizes)))
    assert (chat.messages, chat.tail) == expected(script)


@unhurried
@given(script=scripts(kinds=("int",)), sizes=chunk_sizes())
def test_byte_counts_only(script: List[Message], sizes: List[int]) -> None:
    chat = play(script, list(cut(stream(script), sizes)))
    assert (chat.messages, chat.tail) == expected(script)


@unhurried
@given(tail=st.binary(max_size=200), sizes=chunk_sizes())
def test_no_terminator_only(tail: bytes, sizes: List[int]) -> None:
    script = [Message(None, tail)]
    chat = play(script, list(cut(tail, sizes)))
    assert (chat.messages, chat.tail) == ([], tail)


@unhurried
@given(script=scripts(), sizes=chunk_sizes(), limit=st.integers(min_value=0, max_value=20))
def test_limit_decision_is_per_message(script: List[Message], sizes: List[int], limit: int) -> None:
    # Messages up to the limit arrive intact; the first longer one overflows, whatever the
    # chunking, and nothing of it beyond the limit is delivered.
    chat = ModelChat(script, limit=limit)
    try:
        for chunk in cut(stream(script), sizes):
            chat.receive(chunk)
    except InputOverflow:
        overflowed = True
    else:
        overflowed = False
    framed, tail = expected(script)
    fitting = []
    for message in framed:
        if len(message) > limit:
            break
        fitting.append(message)
    assert chat.messages == fitting
    should_overflow = len(fitting) < len(framed) or len(tail) > limit
    assert overflowed == should_overflow
    assert len(chat.tail) <= limit


# -- the stdlib as oracle (CPython 3.11) --------------------------------------------------------


def stdlib_trace(script: Sequence[Message], chunks: Sequence[bytes]) -> List[Any]:
    return chat_trace(stdlib_asynchat().async_chat, script, chunks)


def model_trace(script: Sequence[Message], chunks: Sequence[bytes]) -> List[Any]:
    chat = ModelChat(script)
    trace = []
    for chunk in chunks:
        chat.receive(chunk)
        trace.append((list(chat.events), chat.terminator, chat.framer.pending))
    return trace


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_examples_match_the_stdlib(name: str) -> None:
    script = EXAMPLES[name]
    for chunks in whole_and_bytewise(stream(script)):
        assert model_trace(script, chunks) == stdlib_trace(script, chunks)


@unhurried
@given(script=scripts(), sizes=chunk_sizes())
def test_same_calls_as_the_stdlib(script: List[Message], sizes: List[int]) -> None:
    # Stronger than required: not only the messages but every collect_incoming_data chunk,
    # the decremented byte count and the held bytes after each read are the stdlib's.
    data = stream(script)
    for chunks in [list(cut(data, sizes)), *whole_and_bytewise(data)]:
        assert model_trace(script, chunks) == stdlib_trace(script, chunks)


# -- find_prefix_at_end -------------------------------------------------------------------------


def naive_prefix_at_end(haystack: Any, needle: Any) -> int:
    """The definition: the longest proper prefix of needle that ends haystack (-1: no needle)."""
    if not needle:
        return -1
    return max(n for n in range(len(needle)) if haystack.endswith(needle[:n]))


@pytest.mark.parametrize(
    ("haystack", "needle", "result"),
    [
        ("qwerty\r", "\r\n", 1),
        ("qwertydkjf", "\r\n", 0),
        ("qwerty\r\n", "\r\n", 0),  # a whole needle is not a prefix
        (b"xx\r\n.\r", b"\r\n.\r\n", 4),
        (b"aaaa", b"aaab", 3),
        (b"", b"\r\n", 0),
        (b"abc", b"", -1),
        (bytearray(b"ab"), b"bc", 1),
    ],
)
def test_find_prefix_at_end(haystack: Any, needle: Any, result: int) -> None:
    assert find_prefix_at_end(haystack, needle) == result


@unhurried
@given(
    haystack=st.lists(st.sampled_from(b"ab\r"), max_size=10).map(bytes),
    needle=st.lists(st.sampled_from(b"ab\r"), max_size=6).map(bytes),
)
def test_find_prefix_at_end_property(haystack: bytes, needle: bytes) -> None:
    assert find_prefix_at_end(haystack, needle) == naive_prefix_at_end(haystack, needle)
    text, pattern = haystack.decode(), needle.decode()
    assert find_prefix_at_end(text, pattern) == naive_prefix_at_end(text, pattern)


@unhurried
@given(
    haystack=st.lists(st.sampled_from(b"ab\r"), max_size=10).map(bytes),
    needle=st.lists(st.sampled_from(b"ab\r"), max_size=6).map(bytes),
)
def test_find_prefix_at_end_matches_the_stdlib(haystack: bytes, needle: bytes) -> None:
    oracle = stdlib_asynchat().find_prefix_at_end
    assert find_prefix_at_end(haystack, needle) == oracle(haystack, needle)


# -- cost: linear, whatever the chunking (guards, not benchmarks) --------------------------------


def test_many_lines_in_one_read_cost_no_copy_of_the_rest() -> None:
    # 4 MiB of 8-byte lines in one read.  Re-slicing the rest after each line (the stdlib)
    # would copy about 1 TB here and hit the test timeout; linear work takes well under 1 s.
    line = b"1234567\n"
    framer = InputFramer()
    framer.feed(line * (512 * 1024))
    count = 0
    step = framer.next_step(b"\n")
    while step is not None:
        count += step[1]
        step = framer.next_step(b"\n")
    assert count == 512 * 1024


def test_huge_message_in_small_reads_is_not_rescanned() -> None:
    # 32 MiB without a terminator in 1 KiB reads: each read must cost about 1 KiB.
    framer = InputFramer()
    piece = b"x" * 1023 + b"\r"
    delivered = 0
    for _ in range(32 * 1024):
        framer.feed(piece)
        step = framer.next_step(b"\r\n")
        while step is not None:
            delivered += len(step[0])
            step = framer.next_step(b"\r\n")
        assert framer.pending == b"\r"
    framer.feed(b"\n")
    assert framer.next_step(b"\r\n") == (b"", True, False)
    assert delivered == 32 * 1024 * 1024 - 1
