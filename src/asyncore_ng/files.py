"""File channels: asyncore's ``file_wrapper`` and ``file_dispatcher`` (POSIX).

``FileWrapper`` makes a descriptor look enough like a socket for a dispatcher (``recv``,
``send``, ``getsockopt(SO_ERROR)``, ``fileno``, ``close``); ``FileDispatcher`` serves a pipe,
a terminal or any other descriptor through it.
"""

from __future__ import annotations

import os
import socket
import warnings
from typing import Any, Optional

from .dispatcher import ChannelMapType, Dispatcher


class FileWrapper:
    """Makes a file descriptor look enough like a socket for a dispatcher.

    The descriptor passed in is duplicated; the wrapper owns the duplicate and closes it in
    :meth:`close` (warning with ``ResourceWarning`` if it is garbage-collected open).
    """

    def __init__(self, fd: int) -> None:
        self.fd = os.dup(fd)

    def __del__(self) -> None:
        if self.fd >= 0:
            warnings.warn(f"unclosed file {self!r}", ResourceWarning, source=self, stacklevel=1)
        self.close()

    def recv(self, *args: Any) -> bytes:
        return os.read(self.fd, *args)

    def send(self, *args: Any) -> int:
        return os.write(self.fd, *args)

    def getsockopt(self, level: int, optname: int, buflen: Optional[int] = None) -> int:
        if level == socket.SOL_SOCKET and optname == socket.SO_ERROR and not buflen:
            return 0
        raise NotImplementedError("Only asyncore specific behaviour implemented.")

    read = recv
    write = send

    def close(self) -> None:
        if self.fd < 0:
            return
        fd, self.fd = self.fd, -1
        os.close(fd)

    def fileno(self) -> int:
        return self.fd


class FileDispatcher(Dispatcher):
    """A dispatcher over a pipe, terminal or file descriptor (POSIX)."""

    #: The wrapper class ``set_file`` uses (the ``asyncore`` shim: its ``file_wrapper``).
    _ng_file_wrapper: Any = FileWrapper

    def __init__(self, fd: Any, map: Optional[ChannelMapType] = None) -> None:
        Dispatcher.__init__(self, None, map)
        self.connected = True
        try:
            fd = fd.fileno()
        except AttributeError:
            pass
        self.set_file(fd)
        os.set_blocking(fd, False)

    def set_file(self, fd: int) -> None:
        self.socket = self._ng_file_wrapper(fd)
        self._fileno = self.socket.fileno()
        self.add_channel()
