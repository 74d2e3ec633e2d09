"""Output side of ``async_chat``: producers and the output queue, with no I/O in them.

The output queue
----------------
``async_chat.producer_fifo`` holds, in order, what is still to be sent: bytes-like
buffers (from ``push``), producers (objects with ``more()``, from
``push_with_producer``), ``str`` when ``use_encoding`` is set, and ``None``,
the marker ``close_when_done`` leaves.  Real programs read and append to it
directly (pyftpdlib, medusa-style servers), so it stays a ``collections.deque``:
``OutputQueue`` is a subclass that adds the chat's operations and reports when
it goes from empty to non-empty or back, whoever changed it, because that is
when the channel's ``writable()`` answer changes.

Zero copies on the way out
--------------------------
The stdlib copied on the way out: ``push`` cut large data into copied slices,
and after a partial ``send`` it replaced the head with ``first[num_sent:]``, a
copy of the rest, so a large entry sent in small pieces cost quadratic time.
Here large ``bytes`` are cut into ``memoryview`` slices of the pushed object,
the head left after a partial send becomes a view of what was there, and
``next_chunk`` hands ``send`` a view.  A ``bytearray`` is copied once to
``bytes`` before it is viewed: a view would pin it (the owner could no longer
resize it) and would send later changes; the stdlib's copies protected
against both, and one copy keeps that promise at linear cost.
"""

from __future__ import annotations

import enum
import warnings
from collections import deque
from typing import TYPE_CHECKING, Any, Callable, Iterable, Optional, Protocol, Tuple, Union

if TYPE_CHECKING:
    from typing import Deque


class Producer(Protocol):
    """Anything with ``more()``: returns the next bytes to send, or ``b""`` when done."""

    def more(self) -> Union[bytes, bytearray, memoryview, str]: ...


__all__ = ["CLOSE", "Buffer", "Entry", "Fifo", "OutputQueue", "Producer", "QueueSignal", "SimpleProducer"]

Buffer = Union[bytes, bytearray, memoryview]

#: What ``producer_fifo`` may hold.
Entry = Union[bytes, bytearray, memoryview, str, "Producer", None]

_BUFFER_TYPES = (bytes, bytearray, memoryview)


class QueueSignal(enum.Enum):
    """What ``OutputQueue.next_chunk`` returns instead of data."""

    #: The ``close_when_done`` marker reached the head of the queue (and was removed).
    CLOSE = "close"


CLOSE = QueueSignal.CLOSE


def _frozen_view(data: Union[bytes, bytearray]) -> memoryview:
    """A view of ``data`` that its owner cannot change under it: a ``bytearray`` is copied
    once (see the module docstring)."""
    return memoryview(bytes(data) if isinstance(data, bytearray) else data)


if TYPE_CHECKING:
    _DequeBase = Deque[Entry]
else:
    _DequeBase = deque


class OutputQueue(_DequeBase):
    """The chat's output queue: a ``collections.deque`` of entries, plus change reports.

    ``on_change`` (an attribute too; may be ``None``) is called with no
    arguments whenever the queue may have gone from empty to non-empty or
    from non-empty to empty, through any of the deque's mutating methods.  It
    is not called for changes that keep it non-empty.  Not thread-safe, like
    the channel that owns it.
    """

    __slots__ = ("on_change",)

    def __init__(
        self,
        iterable: Iterable[Entry] = (),
        maxlen: Optional[int] = None,
        *,
        on_change: Optional[Callable[[], object]] = None,
    ) -> None:
        super().__init__(iterable, maxlen)
        self.on_change = on_change

    # -- the chat's operations -------------------------------------------------

    def push(self, data: Buffer, chunk_size: int) -> None:
        """Queue bytes-like ``data`` for sending, cut into views of at most ``chunk_size`` bytes.

        Data no longer than ``chunk_size`` is queued as the object itself, as
        the stdlib did.  Raises ``TypeError`` for anything not bytes-like
        (``str`` included).
        """
        if not isinstance(data, _BUFFER_TYPES):
            raise TypeError(f"data argument must be byte-ish, not {type(data).__name__}")
        if isinstance(data, memoryview) and (data.ndim != 1 or data.itemsize != 1):
            # Lengths below are byte counts; the stdlib counted items here.
            data = data.cast("B")
        size = len(data)
        if size <= chunk_size:
            self.append(data)
            return
        view = data if isinstance(data, memoryview) else _frozen_view(data)
        self.extend([view[start : start + chunk_size] for start in range(0, size, chunk_size)])

    def next_chunk(
        self, chunk_size: int, encoding: Optional[str] = None
    ) -> Union[bytes, bytearray, memoryview, QueueSignal, None]:
        """Return what to send next (at most ``chunk_size`` bytes), without removing it.

        Producers at the head are asked for ``more()``: non-empty results are
        queued before the producer, an empty result (``b""`` or ``None``)
        removes it.  Empty entries are dropped.  Returns ``CLOSE`` (after
        removing the marker) when the ``close_when_done`` marker comes first,
        and ``None`` when the queue is empty.  After sending, report the
        count with ``consume``.

        A ``str`` entry is replaced by its encoding with ``encoding``; without
        one it raises ``TypeError`` (the stdlib raised it from ``send``).
        Anything else that is neither bytes-like nor a producer is sliced, as
        the stdlib did.
        """
        while self:
            first = self[0]
            if not first:
                self.popleft()
                if first is None:
                    return CLOSE
                more = getattr(first, "more", None)
                if more is not None:
                    # A producer whose len() says 0: the stdlib dropped it, then still asked
                    # more() once (and sent what it gave).
                    produced = more()
                    if produced:
                        self.appendleft(produced)
                continue
            if isinstance(first, bytes):
                return first if len(first) <= chunk_size else memoryview(first)[:chunk_size]
            if isinstance(first, memoryview):
                return first if len(first) <= chunk_size else first[:chunk_size]
            if isinstance(first, str):
                if encoding is None:
                    raise TypeError("str in producer_fifo needs use_encoding set on the channel")
                # Encoded whole, in place, so that send counts (bytes) apply to what is queued.
                self[0] = first.encode(encoding)
                continue
            more = getattr(first, "more", None)
            if more is None:
                # bytearray, mmap, array...: a copy, like the stdlib's first[:obs].
                piece: Buffer = first[:chunk_size]  # type: ignore[index]
                return piece
            produced = more()
            if produced:
                self.appendleft(produced)
            else:
                self.popleft()
        return None

    def consume(self, count: Any, chunk_size: Optional[int] = None) -> None:
        """Drop the first ``count`` bytes of the head entry.

        ``count`` is what ``send`` returned for the chunk ``next_chunk`` gave (at most
        ``chunk_size`` bytes). The rest of a partly sent entry stays at the head as a view.
        A ``send`` that returned no byte count (a stand-in socket's ``None``, ``-1``, a float)
        gets the stdlib's arithmetic: nothing for a false value, else the head is sliced at
        ``count`` (raising its ``TypeError`` for a float).
        """
        if type(count) is not int or count < 0:
            if count:
                first = self[0]
                size = len(first)  # type: ignore[arg-type]
                if chunk_size is None:
                    chunk_size = size
                if count < min(size, chunk_size) or chunk_size < size:
                    self[0] = first[count:]  # type: ignore[index]
                else:
                    self.popleft()
            return
        if not count:
            return
        first = self[0]
        if count >= len(first):  # type: ignore[arg-type]
            self.popleft()
        elif isinstance(first, (bytes, bytearray)):
            self[0] = _frozen_view(first)[count:]
        else:
            self[0] = first[count:]  # type: ignore[index]

    # -- change reports -----------------------------------------------------------
    # Every mutating deque method that can empty or fill the queue, wrapped so
    # that code appending to producer_fifo directly is noticed too.

    def _report(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def append(self, entry: Entry) -> None:
        was_empty = not self
        super().append(entry)
        if was_empty:
            self._report()

    def appendleft(self, entry: Entry) -> None:
        was_empty = not self
        super().appendleft(entry)
        if was_empty:
            self._report()

    def extend(self, entries: Iterable[Entry]) -> None:
        was_empty = not self
        super().extend(entries)
        if was_empty and self:
            self._report()

    def extendleft(self, entries: Iterable[Entry]) -> None:
        was_empty = not self
        super().extendleft(entries)
        if was_empty and self:
            self._report()

    def insert(self, index: int, entry: Entry) -> None:
        was_empty = not self
        super().insert(index, entry)
        if was_empty:
            self._report()

    def __iadd__(self, entries: Iterable[Entry]) -> OutputQueue:
        self.extend(entries)
        return self

    def __imul__(self, times: int) -> OutputQueue:
        was_empty = not self
        super().__imul__(times)
        if not was_empty and not self:
            self._report()
        return self

    def pop(self) -> Entry:  # type: ignore[override]  # deque.pop takes no index
        entry = super().pop()
        if not self:
            self._report()
        return entry

    def popleft(self) -> Entry:
        entry = super().popleft()
        if not self:
            self._report()
        return entry

    def remove(self, entry: Entry) -> None:
        super().remove(entry)
        if not self:
            self._report()

    def clear(self) -> None:
        was_empty = not self
        super().clear()
        if not was_empty:
            self._report()

    def __delitem__(self, index: int) -> None:  # type: ignore[override]
        super().__delitem__(index)
        if not self:
            self._report()


class SimpleProducer:
    """A producer over one bytes-like object, handing out ``buffer_size`` bytes per ``more()``.

    ``data`` reads as what is left, as in the stdlib; internally an offset
    moves through the original object, so ``more()`` costs the chunk it
    returns, not the rest of the data.
    """

    def __init__(self, data: Buffer, buffer_size: int = 512) -> None:
        self._data: Buffer = data
        self._offset = 0
        self.buffer_size = buffer_size

    @property
    def data(self) -> Buffer:
        """What ``more()`` has not handed out yet."""
        return self._data[self._offset :] if self._offset else self._data

    @data.setter
    def data(self, value: Buffer) -> None:
        self._data = value
        self._offset = 0

    def more(self) -> Buffer:
        """Return the next ``buffer_size`` bytes, the rest when fewer are left, then ``b""``."""
        size = self.buffer_size
        if not (type(size) is int and size > 0):
            # What the stdlib's slicing gave for a size of 0 or less (b"" and the data kept,
            # after all but the last -size bytes for a negative one), or its error.
            data = self.data
            if len(data) > size:
                self.data = data[size:]
                return data[:size]
            self.data = b""
            return data
        data = self._data
        start = self._offset
        stop = start + size
        if len(data) > stop:
            self._offset = stop
            return data[start:stop]
        self._data = b""
        self._offset = 0
        return data[start:] if start else data


class Fifo:
    """The FIFO class ``asynchat`` had before Python 3.6 (deprecated there), same API.

    Kept so old programs still import and run; new code should use
    ``collections.deque``.  Creating one emits a ``DeprecationWarning``.
    """

    def __init__(self, list: Optional[Iterable[object]] = None) -> None:
        warnings.warn(
            "asynchat.fifo is deprecated; use collections.deque",
            DeprecationWarning,
            stacklevel=2,
        )
        self.list: Deque[object] = deque(list) if list else deque()

    def __len__(self) -> int:
        return len(self.list)

    def is_empty(self) -> bool:
        """True when nothing is queued."""
        return not self.list

    def first(self) -> object:
        """The oldest item, left in place (``IndexError`` when empty)."""
        return self.list[0]

    def push(self, data: object) -> None:
        """Add ``data`` at the end."""
        self.list.append(data)

    def pop(self) -> Tuple[int, object]:
        """Remove the oldest item: ``(1, item)``, or ``(0, None)`` when empty."""
        if self.list:
            return (1, self.list.popleft())
        return (0, None)
