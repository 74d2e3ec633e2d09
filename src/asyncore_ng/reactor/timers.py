"""Timers: a heap of ``(when, seq, handle)`` on the reactor's clock.

The tuple keeps ``heapq`` comparing floats and integers in C instead of calling ``__lt__``;
``seq`` breaks ties so timers due at the same instant run in the order they were scheduled.
Cancelling only sets a flag (O(1)); the entry stays in the heap until it reaches the top or
until cancelled entries make up more than half of a heap of at least ``COMPACT_MIN`` entries,
when the heap is rebuilt without them. Repeating timers are re-pushed after each run.
"""

from __future__ import annotations

import heapq
import itertools
from typing import Any, Callable, List, Optional, Tuple

COMPACT_MIN = 100


def _cancelled() -> None:
    """What a cancelled handle holds instead of its callback."""


class TimerHandle:
    """A scheduled call. ``cancel()`` is idempotent; ``when`` is on the reactor's clock."""

    __slots__ = ("_args", "_callback", "_queue", "cancelled", "interval", "when")

    def __init__(
        self,
        queue: TimerQueue,
        when: float,
        callback: Callable[..., Any],
        args: Tuple[Any, ...],
        interval: Optional[float],
    ) -> None:
        self._queue: Optional[TimerQueue] = queue
        self.when = when
        self._callback = callback
        self._args = args
        self.interval = interval
        self.cancelled = False

    def cancel(self) -> None:
        """Stop this call (and its repetitions) from running. Safe to call from the callback.
        The handle lets go of the callback and its arguments at once (they may hold a closed
        channel), even while its entry waits in the heap."""
        if not self.cancelled:
            self.cancelled = True
            self._callback = _cancelled
            self._args = ()
            if self._queue is not None:
                self._queue._note_cancelled()
                self._queue = None

    def __repr__(self) -> str:
        every = f" every {self.interval}s" if self.interval is not None else ""
        if self.cancelled:
            return f"<TimerHandle cancelled{every}>"
        name = getattr(self._callback, "__qualname__", self._callback)
        return f"<TimerHandle {name} when={self.when:.6f}{every}>"


class TimerQueue:
    """The reactor's timers. Not thread-safe: use ``call_soon_threadsafe`` from other threads."""

    def __init__(self) -> None:
        #: The heap of ``(when, sequence, handle)``, cancelled entries included: the same list
        #: for the queue's whole life, so the reactor tests it for emptiness without a call.
        self.entries: List[Tuple[float, int, TimerHandle]] = []
        self._heap = self.entries
        self._seq = itertools.count()
        self._cancelled = 0

    def __len__(self) -> int:
        """Live (not cancelled) timers."""
        return len(self._heap) - self._cancelled

    def __bool__(self) -> bool:
        """Whether any entry, live or cancelled, is left."""
        return bool(self._heap)

    def push(
        self,
        when: float,
        callback: Callable[..., Any],
        args: Tuple[Any, ...] = (),
        interval: Optional[float] = None,
    ) -> TimerHandle:
        handle = TimerHandle(self, when, callback, args, interval)
        heapq.heappush(self._heap, (when, next(self._seq), handle))
        return handle

    def _note_cancelled(self) -> None:
        self._cancelled += 1
        if self._cancelled > COMPACT_MIN and self._cancelled * 2 > len(self._heap):
            self._heap[:] = [entry for entry in self._heap if not entry[2].cancelled]
            heapq.heapify(self._heap)
            self._cancelled = 0

    def next_deadline(self) -> Optional[float]:
        """When the earliest live timer is due, or ``None``."""
        heap = self._heap
        while heap and heap[0][2].cancelled:
            heapq.heappop(heap)
            self._cancelled -= 1
        return heap[0][0] if heap else None

    def pop_due(self, now: float) -> List[TimerHandle]:
        """Remove and return the timers due at ``now``, in order.

        Collected before any runs, so a timer that schedules another for "now" does not make
        this pass endless: the new one runs on the next pass.
        """
        heap = self._heap
        due = []
        while heap and heap[0][0] <= now:
            handle = heapq.heappop(heap)[2]
            if handle.cancelled:
                self._cancelled -= 1
            else:
                handle._queue = None  # out of the heap: a cancel() now only sets the flag
                due.append(handle)
        return due

    def requeue(self, handles: List[TimerHandle]) -> None:
        """Put back due handles that were popped but not run (the pass was interrupted)."""
        for handle in handles:
            if not handle.cancelled:
                heapq.heappush(self._heap, (handle.when, next(self._seq), handle))
                handle._queue = self

    def fire(self, handle: TimerHandle, now: float) -> Optional[Tuple[Callable[..., Any], Tuple[Any, ...]]]:
        """Prepare one due handle to run: ``(callback, args)`` to call, or ``None`` if it was
        cancelled meanwhile. A repeating handle is pushed back first (so it may cancel itself).

        A repeating timer that fell behind (a long handler, a suspended process) is not fired
        again and again to catch up: if its next slot has passed, it runs one interval from now.
        """
        if handle.cancelled:
            return None
        if handle.interval is not None:
            handle.when += handle.interval
            if handle.when <= now:
                handle.when = now + handle.interval
            heapq.heappush(self._heap, (handle.when, next(self._seq), handle))
            handle._queue = self
            return handle._callback, handle._args
        call = handle._callback, handle._args
        handle.cancelled = True  # spent: a later cancel() is a no-op
        handle._callback, handle._args = _cancelled, ()  # (nor does the spent handle hold them)
        return call

    def clear(self) -> None:
        for _, _, handle in self._heap:
            handle.cancelled = True
            handle._queue = None
            handle._callback, handle._args = _cancelled, ()
        self._heap.clear()
        self._cancelled = 0
