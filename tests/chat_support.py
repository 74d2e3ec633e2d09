"""Shared by the asynchat tests: message scripts for property tests, chunking, the stdlib oracle.

A *script* is the list of messages a peer sends, each with the terminator the
receiver must be using when it arrives: the receiver starts with the first
message's terminator and, inside ``found_terminator``, switches to the next
one.  A ``None`` terminator can only come last (it collects everything after).
"""

from __future__ import annotations

import importlib.util
import sys
import sysconfig
import warnings
from pathlib import Path
from types import ModuleType
from typing import Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

import pytest
from hypothesis import settings
from hypothesis import strategies as st

Terminator = Union[bytes, int, None]

# A small alphabet shared by payloads and terminators, so that payloads often
# contain pieces of terminators: the cases where split and overlapping
# terminators go wrong.
_ALPHABET = b"ab\r\n."


class Message(NamedTuple):
    terminator: Terminator
    payload: bytes

    def wire(self) -> bytes:
        """The bytes the peer sends for this message."""
        if isinstance(self.terminator, bytes):
            return self.payload + self.terminator
        return self.payload


def repair(payload: bytes, terminator: bytes) -> bytes:
    """Drop bytes from ``payload`` until ``terminator`` first occurs right after it.

    Otherwise the receiver would (rightly) see a different message boundary,
    e.g. payload b"ab" with terminator b"aba" reads as b"" then b"b...".
    """
    while True:
        index = (payload + terminator).find(terminator)
        if index == len(payload):
            return payload
        payload = payload[:index] + payload[index + 1 :]


#: For property tests: no per-example deadline.  A loaded CI machine must not fail a correct
#: example for being slow; the suite's timeout still bounds every test.
unhurried = settings(deadline=None)

_bytes_from_alphabet = st.lists(st.sampled_from(sorted(set(_ALPHABET))), max_size=12).map(bytes)
_byte_terminators = st.one_of(
    st.sampled_from([b"\n", b"\r\n", b"\r\n.\r\n", b"aba", b"aab"]),
    st.lists(st.sampled_from(sorted(set(_ALPHABET))), min_size=1, max_size=4).map(bytes),
)


@st.composite
def messages(draw: st.DrawFn, kinds: Sequence[str] = ("bytes", "int")) -> Message:
    """One framed message whose terminator kind is drawn from ``kinds``."""
    kind = draw(st.sampled_from(list(kinds)))
    payload = draw(_bytes_from_alphabet)
    if kind == "int":
        count = draw(st.integers(min_value=1, max_value=20))
        filler = draw(st.binary(min_size=count, max_size=count))
        return Message(count, filler)
    terminator = draw(_byte_terminators)
    return Message(terminator, repair(payload, terminator))


@st.composite
def scripts(
    draw: st.DrawFn, kinds: Sequence[str] = ("bytes", "int"), none_tail: Optional[bool] = None
) -> List[Message]:
    """A list of framed messages, optionally ending with a ``None``-terminated tail.

    ``none_tail`` True forces the tail, False forbids it, None lets Hypothesis choose.
    """
    script = draw(st.lists(messages(kinds), max_size=12))
    if none_tail is None:
        none_tail = draw(st.booleans())
    if none_tail:
        script.append(Message(None, draw(st.binary(min_size=1, max_size=40))))
    return script


def chunk_sizes() -> st.SearchStrategy[List[int]]:
    """Read sizes, used cyclically to cut a stream."""
    return st.lists(st.integers(min_value=1, max_value=24), min_size=1, max_size=8)


def cut(stream: bytes, sizes: Sequence[int]) -> Iterator[bytes]:
    """Cut ``stream`` into reads of the given sizes, cycling through them."""
    start = 0
    turn = 0
    while start < len(stream):
        size = sizes[turn % len(sizes)]
        yield stream[start : start + size]
        start += size
        turn += 1


def whole_and_bytewise(stream: bytes) -> List[List[bytes]]:
    """The two chunkings every framing case is fed with."""
    return [[stream], [stream[i : i + 1] for i in range(len(stream))]]


class ScriptRecorder:
    """Plays the receiving application of a script: records every call it gets and, inside
    ``found_terminator``, switches to the next message's terminator.

    Mixed into the framing model, our ``AsyncChat`` and the stdlib's own ``async_chat`` (the
    oracle), so all are judged by the same code.  ``events`` also records each
    ``get_terminator`` call: the stdlib consults it once per step, and so must we.
    """

    terminator: Terminator

    def start(self, script: Sequence[Message]) -> None:
        self.script = list(script)
        self.turn = 0
        self.terminator = self.script[0].terminator if self.script else None
        self.events: List[Tuple[str, object]] = []
        self.current: List[bytes] = []
        self.messages: List[bytes] = []

    def get_terminator(self) -> Terminator:
        self.events.append(("get_terminator", self.terminator))
        return self.terminator

    def collect_incoming_data(self, data: bytes) -> None:
        assert data, "collect_incoming_data must never get empty data"
        self.events.append(("data", bytes(data)))
        self.current.append(bytes(data))

    def found_terminator(self) -> None:
        self.events.append(("found", self.terminator))
        self.messages.append(b"".join(self.current))
        self.current = []
        self.turn += 1
        self.terminator = self.script[self.turn].terminator if self.turn < len(self.script) else None

    @property
    def tail(self) -> bytes:
        """Data collected since the last found terminator."""
        return b"".join(self.current)


def expected(script: Sequence[Message]) -> Tuple[List[bytes], bytes]:
    """What the receiver must see: the framed messages, and the unframed tail."""
    framed = [m.payload for m in script if m.terminator is not None]
    tail = b"".join(m.payload for m in script if m.terminator is None)
    return framed, tail


def stream(script: Sequence[Message]) -> bytes:
    """The whole byte stream of a script."""
    return b"".join(m.wire() for m in script)


def chat_trace(base: type, script: Sequence[Message], chunks: Sequence[bytes]) -> List[object]:
    """Per read: (events so far, terminator, ac_in_buffer), from the ``handle_read`` of chat
    class ``base`` (ours or the stdlib's) fed the chunks through a fake ``recv``."""

    class Recording(ScriptRecorder, base):  # type: ignore[misc, valid-type]
        def recv(self, buffer_size: int) -> bytes:
            return self.next_read

    chat = Recording()
    chat.start(script)
    trace: List[object] = []
    for chunk in chunks:
        chat.next_read = chunk
        chat.handle_read()
        trace.append((list(chat.events), chat.terminator, chat.ac_in_buffer))
    return trace


# -- the stdlib oracle ------------------------------------------------------------------


def stdlib_asynchat() -> ModuleType:
    """CPython 3.11's own ``asynchat`` (and the ``asyncore`` it imports), loaded from its files.

    Loaded under private names with the stdlib ``asyncore`` in place while it
    imports, so the oracle is the standard library whatever ``sys.modules``
    holds (other tests install ours as ``asyncore``/``asynchat``).  Skips the
    test on any other Python: 3.11 is the last with these modules, and the one
    we promise to match.
    """
    if sys.version_info[:2] != (3, 11):
        pytest.skip("the stdlib asynchat oracle runs on CPython 3.11 only")
    cached = sys.modules.get("_stdlib_oracle_asynchat")
    if cached is not None:
        return cached
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    saved = sys.modules.get("asyncore")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            sys.modules["asyncore"] = _load("_stdlib_oracle_asyncore", stdlib / "asyncore.py")
            module = _load("_stdlib_oracle_asynchat", stdlib / "asynchat.py")
        finally:
            if saved is None:
                sys.modules.pop("asyncore", None)
            else:
                sys.modules["asyncore"] = saved
    return module


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
