"""The wake-up channel: lets another thread, or a signal handler, cut a wait short.

A connected pair of non-blocking sockets (a ``socketpair``, as asyncio uses). The reactor watches
the reading end; :meth:`Waker.wake` writes one byte to the other end, every time. There is no
"a wake-up is already pending" flag: such a flag must be cleared by the reader at exactly the
right moment, and the first version of this class cleared it before draining, so a ``wake()``
landing in between left the flag set with the socket empty and every later ``wake()`` returned
early (a pass then slept its whole timeout with 180,000 callbacks posted). Writing every time is
one system call per wake-up; a full socket buffer (``BlockingIOError``) means a byte is already
waiting, so the wake-up cannot be lost and the error is ignored.

Why it cannot be lost: a thread first queues its work (a callback, a map change), then writes.
The reactor drains the socket while dispatching I/O and only afterwards looks at the queues. A
write that the drain consumed was preceded by its work, which the reactor therefore sees in the
same pass; a write that came after the drain leaves a byte behind, so the next wait returns at
once.

Closing races with writers in other threads: a socket number closed and reused by another file
must never receive our byte. The socket objects protect against writing to a number they no
longer hold, and a lock makes "check that we are open, then send" atomic with respect to
:meth:`close`. It is re-entrant because a signal handler runs in the main thread, which may
already hold it.

A reactor dropped without ``close()`` (a throwaway map) is collected with its map binding, a
reference cycle; the cycle collector finalizes what it collects in no particular order, so the
pair's own finalizers could run first and warn ``unclosed socket``. A ``weakref.finalize``
holds the pair instead and closes it when the waker goes: it runs before any finalizer of the
collected objects (and the sockets, held by it, are not among them).
"""

from __future__ import annotations

import socket
import threading
import weakref


class Waker:
    def __init__(self) -> None:
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)
        self._lock = threading.RLock()
        self._closed = False
        self._finalizer = weakref.finalize(self, _close_pair, self._reader, self._writer)
        self._finalizer.atexit = False  # at exit, a loop thread may still use it
        #: Bytes written so far (statistics: wake-up requests, approximately across threads).
        self.wakes = 0
        #: Times the reading end was drained (statistics: wake-ups received).
        self.drains = 0

    def fileno(self) -> int:
        return self._reader.fileno()

    def wake(self) -> None:
        """Make the reactor's current or next wait return at once. Thread-safe and signal-safe."""
        with self._lock:
            if self._closed:
                return
            self.wakes += 1
            try:
                self._writer.send(b"\0")
            except OSError:
                pass  # BlockingIOError: a byte is waiting already; anything else: shutting down

    def drain(self, _bits: int = 0) -> None:
        """Read every pending byte (the reactor's watch of the reading end calls it)."""
        self.drains += 1
        try:
            while self._reader.recv(4096):
                pass
        except OSError:
            pass  # BlockingIOError: drained

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._finalizer.detach()
            self._reader.close()
            self._writer.close()


def _close_pair(reader: socket.socket, writer: socket.socket) -> None:
    reader.close()
    writer.close()
