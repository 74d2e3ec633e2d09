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
    """The framer driven exactly as ``async_chat.handle_read`` drives it: each read is handed
    to ``deliver``, which calls this recorder's hooks."""

    def __init__(self, script: Sequence[Message], limit: Optional[int] = None) -> None:
        self.framer = InputFramer()
        self.limit = limit
        self.start(script)

    def receive(self, chunk: bytes) -> None:
        self.framer.deliver(self, chunk, self.limit)


class Steps:
    """A receiver for the framer on its own: terminators in turn (the next one after each
    found terminator), and what it was handed, in order."""

    def __init__(self, *terminators: Terminator) -> None:
        self.terminators = list(terminators)
        self.terminator = self.terminators.pop(0)
        self.got: List[Any] = []

    def get_terminator(self) -> Terminator:
        return self.terminator

    def collect_incoming_data(self, data: bytes) -> None:
        assert data
        self.got.append(data)

    def found_terminator(self) -> None:
        self.got.append("found")
        if self.terminators:
            self.terminator = self.terminators.pop(0)


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
        framer, chat = InputFramer(), Steps(terminator)
        for chunk in chunks:
            framer.deliver(chat, chunk)
        assert "found" not in chat.got
        assert b"".join(chat.got) == b"no\nframing\r\nhere"


def test_split_terminator_is_held_and_the_rest_delivered_at_once() -> None:
    framer, chat = InputFramer(), Steps(b"\r\n.\r\n", b"\r\n.\r\n")
    framer.deliver(chat, b"abc\r\n.")
    assert chat.got == [b"abc"]
    assert framer.pending == b"\r\n."  # only the possible beginning of the terminator
    framer.deliver(chat, b"\r")
    assert chat.got == [b"abc"]
    framer.deliver(chat, b"\nnext")
    assert chat.got == [b"abc", "found", b"next"]


def test_false_start_of_a_terminator_is_data() -> None:
    framer, chat = InputFramer(), Steps(b"\r\n")
    framer.deliver(chat, b"ab\r")
    assert chat.got == [b"ab"]
    framer.deliver(chat, b"x\r\n")
    assert chat.got == [b"ab", b"\rx", "found"]


def test_new_terminator_applies_to_held_bytes() -> None:
    # The held b"\r" is a possible start of b"\r\n", not of b"X": a changed terminator
    # must see it as data without new input (the stdlib re-examined its buffer too, on its
    # next handle_read, even one that read nothing).
    framer, chat = InputFramer(), Steps(b"\r\n")
    framer.deliver(chat, b"data\r")
    assert chat.got == [b"data"]
    chat.terminator = b"X"
    framer.deliver(chat, b"")
    assert chat.got == [b"data", b"\r"]


def test_terminator_change_after_partial_use_of_held_bytes() -> None:
    # A byte count eats part of a tail held for b"abc"; back on b"abc", what is left
    # (b"b") can no longer start the terminator and must be delivered.
    framer, chat = InputFramer(), Steps(b"abc")
    framer.deliver(chat, b"xab")
    assert chat.got == [b"x"]
    chat.terminator, chat.terminators = 1, [b"abc"]
    framer.deliver(chat, b"")
    assert chat.got == [b"x", b"a", "found", b"b"]


def test_feed_says_whether_input_is_pending() -> None:
    framer = InputFramer()
    assert framer.feed(b"") is False
    assert framer.feed(b"a\r") is True
    framer.deliver(Steps(b"\r\n"), b"")
    assert framer.feed(b"") is True  # the held b"\r": a new terminator may release it
    framer.deliver(Steps(None), b"")
    assert framer.feed(b"") is False


def test_byte_count_across_reads() -> None:
    framer, chat = InputFramer(), Steps(5, 0)
    framer.deliver(chat, b"hel")
    assert chat.got == [b"hel"] and chat.terminator == 2  # counted down, as the stdlib did
    framer.deliver(chat, b"lo!")
    assert chat.got == [b"hel", b"lo", "found", b"!"]


def test_pending_input_replaced_inside_found_terminator() -> None:
    framer = InputFramer()

    class Replacing(Steps):
        def found_terminator(self) -> None:
            super().found_terminator()
            if self.got.count("found") == 1:
                assert framer.pending == b"two\n"  # what follows the terminator
                framer.reset(b"x\n")

    chat = Replacing(b"\n", b"\n", b"\n")
    framer.deliver(chat, b"one\ntwo\n")
    assert chat.got == [b"one", "found", b"x", "found"]
    assert len(framer) == 0


def test_pending_input_inside_collect_incoming_data_and_replaced_there() -> None:
    # Inside collect_incoming_data the stdlib's buffer still held the data being collected;
    # a replacement made there had the stdlib's cut (past the terminator) applied to it.
    framer = InputFramer()
    seen: List[bytes] = []

    class Peeking(Steps):
        def collect_incoming_data(self, data: bytes) -> None:
            seen.append(framer.pending)
            super().collect_incoming_data(data)
            if data == b"ab":
                framer.reset(b"12345")

    chat = Peeking(b"\n", b"\n")
    framer.deliver(chat, b"ab\ncd\n")
    assert seen == [b"ab\ncd\n", b"45"]
    assert chat.got == [b"ab", "found", b"45"]  # b"12345"[len(b"ab\n"):]: the stdlib's cut


def test_an_exception_in_a_hook_leaves_the_rest_pending() -> None:
    framer = InputFramer()

    class Failing(Steps):
        def found_terminator(self) -> None:
            super().found_terminator()
            if self.got.count("found") == 2:
                raise RuntimeError("from found_terminator")

    chat = Failing(b"\n", b"\n", b"\n", b"\n")
    with pytest.raises(RuntimeError):
        framer.deliver(chat, b"a\nb\nc\nd\n")
    assert framer.pending == b"c\nd\n"
    framer.deliver(chat, b"")  # the next read
    assert chat.got == [b"a", "found", b"b", "found", b"c", "found", b"d", "found"]


def test_bad_terminators() -> None:
    framer = InputFramer()
    with pytest.raises(TypeError):
        framer.deliver(Steps("\n"), b"data")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="negative"):
        framer.deliver(Steps(-1), b"")


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
    framer, chat = InputFramer(), Steps(None)
    framer.deliver(chat, b"a" * 8, limit=10)
    assert chat.got == [b"a" * 8]
    with pytest.raises(InputOverflow):
        framer.deliver(chat, b"a" * 3, limit=10)


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


class Counting:
    """A receiver that only counts (a fixed terminator)."""

    def __init__(self, terminator: Terminator) -> None:
        self.terminator = terminator
        self.found = 0
        self.delivered = 0

    def get_terminator(self) -> Terminator:
        return self.terminator

    def collect_incoming_data(self, data: bytes) -> None:
        self.delivered += len(data)

    def found_terminator(self) -> None:
        self.found += 1


def test_many_lines_in_one_read_cost_no_copy_of_the_rest() -> None:
    # 4 MiB of 8-byte lines in one read.  Re-slicing the rest after each line (the stdlib)
    # would copy about 1 TB here and hit the test timeout; linear work takes well under 1 s.
    chat = Counting(b"\n")
    InputFramer().deliver(chat, b"1234567\n" * (512 * 1024))
    assert chat.found == 512 * 1024


def test_huge_message_in_small_reads_is_not_rescanned() -> None:
    # 32 MiB without a terminator in 1 KiB reads: each read must cost about 1 KiB.
    framer, chat = InputFramer(), Counting(b"\r\n")
    piece = b"x" * 1023 + b"\r"
    for _ in range(32 * 1024):
        framer.deliver(chat, piece)
        assert framer.pending == b"\r"
    framer.deliver(chat, b"\n")
    assert chat.found == 1
    assert chat.delivered == 32 * 1024 * 1024 - 1
