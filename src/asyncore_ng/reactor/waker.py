"""The wake-up channel: lets another thread, or a signal handler, cut a wait short.

A non-blocking pipe (an eventfd would save one descriptor on Linux, but a pipe behaves the same
everywhere and costs nothing on the hot path). ``wake()`` writes one byte unless a wake-up is
already pending; the reactor drains the pipe when it reports readable. A full pipe means a
wake-up is pending anyway, so a failed write is fine. Writing to a pipe is async-signal-safe, so
``wake()`` may run in a Python signal handler.
"""

from __future__ import annotations

import os


class Waker:
    def __init__(self) -> None:
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        os.set_blocking(self._write_fd, False)
        self._pending = False

    def fileno(self) -> int:
        return self._read_fd

    def wake(self) -> None:
        """Make the reactor's current or next wait return at once. Thread-safe."""
        if self._pending or self._write_fd < 0:
            return
        self._pending = True
        try:
            os.write(self._write_fd, b"\0")
        except (BlockingIOError, OSError):
            pass

    def drain(self) -> None:
        # Clear the flag first: a wake() racing with the drain then writes again, and the
        # worst case is one spurious extra pass, never a lost wake-up.
        self._pending = False
        try:
            while os.read(self._read_fd, 4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def close(self) -> None:
        for fd in (self._read_fd, self._write_fd):
            if fd >= 0:
                os.close(fd)
        self._read_fd = self._write_fd = -1
