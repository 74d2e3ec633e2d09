"""The demo servers of ``asyncore-ng echo`` and ``asyncore-ng chat``, written on the public
``asyncore``/``asynchat`` API as any program would be (importing this module installs
asyncore-ng's modules under those names first, as ``asyncore-ng run`` does).

* echo: every byte a client sends comes back (``asyncore.dispatcher_with_send``);
* chat: a line-based chat room (``asynchat.async_chat``, lines end with ``\\n``). Each client
  gets a name (``guest1``...); every line it sends reaches the others as ``name: line``;
  joins and leaves are announced (``* guest1 joined``); ``/nick NAME``, ``/who`` and ``/quit``
  are commands. With ``--workers`` each worker process has its own room.

Both print ``listening on HOST:PORT`` (the port really bound) as the first line of standard
output, then one line per connection, and end cleanly on SIGINT or SIGTERM (exit status 0):
the signal handler stops the reactor through ``call_soon_threadsafe``, which is safe there.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import sys
from types import FrameType
from typing import Any, Callable, Dict, List, Optional, Tuple

from ._install import install

install()

import asynchat  # noqa: E402  (asyncore-ng's, whatever the Python version)
import asyncore  # noqa: E402

import asyncore_ng  # noqa: E402

READY_FD_ENV = "ASYNCORE_NG_READY_FD"
WORKER_ENV = "ASYNCORE_NG_WORKER"

#: A chat line longer than this closes the connection (a peer never sending ``\n``).
MAX_LINE = 64 * 1024
#: A chat member with this many messages queued unsent is disconnected (it does not read).
MAX_QUEUED = 10_000

Log = Callable[[str], None]


def _address_family(host: str) -> int:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _peer(addr: Any) -> str:
    if isinstance(addr, tuple) and len(addr) >= 2:
        host = str(addr[0])
        return f"[{host}]:{addr[1]}" if ":" in host else f"{host}:{addr[1]}"
    return str(addr)


class Listener(asyncore.dispatcher):
    """Accepts connections and hands each to ``make_handler(sock, addr)``."""

    def __init__(self, host: str, port: int, make_handler: Callable[[socket.socket, Any], Any]) -> None:
        asyncore.dispatcher.__init__(self)
        self.make_handler = make_handler
        self.create_socket(_address_family(host), socket.SOCK_STREAM)
        self.set_reuse_addr()
        self.bind((host, port))  # with ASYNCORE_NG_REUSEPORT=1 (workers): SO_REUSEPORT first
        self.listen(socket.SOMAXCONN)

    def handle_accepted(self, sock: socket.socket, addr: Any) -> None:
        self.make_handler(sock, addr)


# -- echo --------------------------------------------------------------------------------------


class EchoHandler(asyncore.dispatcher_with_send):
    def handle_read(self) -> None:
        data = self.recv(65536)
        if data:
            self.send(data)


# -- chat --------------------------------------------------------------------------------------

_NAME = re.compile(r"[A-Za-z0-9_.-]{1,32}\Z")


class ChatRoom:
    """The members of one process's room, in the order they joined."""

    def __init__(self, log: Log) -> None:
        self.members: Dict[ChatHandler, None] = {}
        self.log = log
        self._guests = 0

    def new_name(self) -> str:
        while True:
            self._guests += 1
            name = f"guest{self._guests}"
            if not self.find(name):
                return name

    def find(self, name: str) -> Optional[ChatHandler]:
        for member in self.members:
            if member.name == name:
                return member
        return None

    def names(self) -> List[str]:
        return [m.name for m in self.members]

    def join(self, member: ChatHandler) -> None:
        others = self.names()
        self.members[member] = None
        here = ", ".join(others) if others else "nobody else"
        member.say(
            f"* welcome, you are {member.name}{member.where}; here: {here}. Commands: /nick NAME, /who, /quit"
        )
        self.broadcast(f"* {member.name} joined", exclude=member)

    def leave(self, member: ChatHandler) -> None:
        if member in self.members:
            del self.members[member]
            self.broadcast(f"* {member.name} left")

    def broadcast(self, line: str, exclude: Optional[ChatHandler] = None) -> None:
        for member in list(self.members):
            if member is not exclude:
                member.say(line)


class ChatHandler(asynchat.async_chat):
    def __init__(self, sock: socket.socket, room: ChatRoom, where: str = "") -> None:
        asynchat.async_chat.__init__(self, sock)
        self.set_terminator(b"\n")
        self.room = room
        self.where = where
        self.parts: List[bytes] = []
        self.size = 0
        self.name = room.new_name()
        room.join(self)

    def say(self, line: str) -> None:
        if self.connected and len(self.producer_fifo) >= MAX_QUEUED:
            self.room.log(f"{self.name} does not read: disconnected")
            self.room.leave(self)
            self.close()
            return
        self.push(line.encode("utf-8") + b"\r\n")

    def collect_incoming_data(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > MAX_LINE:
            self.parts = []
            self.set_terminator(None)  # discard the rest until we are closed
            self.push(b"* line too long: bye\r\n")
            self.close_when_done()
            return
        self.parts.append(data)

    def found_terminator(self) -> None:
        text = b"".join(self.parts).rstrip(b"\r").decode("utf-8", "replace")
        self.parts = []
        self.size = 0
        if text.startswith("/"):
            self.command(text)
        elif text:
            self.room.broadcast(f"{self.name}: {text}", exclude=self)

    def command(self, text: str) -> None:
        verb, _, argument = text.partition(" ")
        argument = argument.strip()
        if verb == "/quit":
            self.say("* bye")
            self.close_when_done()
        elif verb == "/who":
            self.say("* here: " + ", ".join(self.room.names()))
        elif verb == "/nick" and _NAME.match(argument):
            if self.room.find(argument):
                self.say(f"* {argument} is taken")
            else:
                old, self.name = self.name, argument
                self.room.broadcast(f"* {old} is now {argument}")
        else:
            self.say("* commands: /nick NAME (letters, digits, _ . -), /who, /quit")

    def handle_close(self) -> None:
        self.room.leave(self)
        asynchat.async_chat.handle_close(self)


# -- running -----------------------------------------------------------------------------------


def _printer(stream: Any) -> Log:
    def log(line: str) -> None:
        stream.write(line + "\n")
        stream.flush()

    return log


def serve(kind: str, host: str, port: int, quiet: bool = False) -> int:
    """Run the ``kind`` (``"echo"`` or ``"chat"``) demo until SIGINT or SIGTERM; return the exit
    status. Under a supervisor (``--workers``), readiness goes to the descriptor it named
    instead of the ``listening on`` line (the supervisor prints that once for all workers)."""
    ready_fd = os.environ.pop(READY_FD_ENV, None)
    worker = os.environ.get(WORKER_ENV)
    where = f" (worker {worker}, pid {os.getpid()})" if worker else ""
    log = _printer(sys.stdout)
    note: Log = (lambda line: None) if quiet else log
    make_handler: Callable[[socket.socket, Any], Any]
    if kind == "echo":

        def make_handler(sock: socket.socket, addr: Any) -> Any:
            note(f"connection from {_peer(addr)}{where}")
            return EchoHandler(sock)

    elif kind == "chat":
        room = ChatRoom(_printer(sys.stderr))

        def make_handler(sock: socket.socket, addr: Any) -> Any:
            note(f"connection from {_peer(addr)}{where}")
            return ChatHandler(sock, room, where)

    else:
        raise ValueError(f"unknown demo {kind!r}")
    try:
        server = Listener(host, port, make_handler)
    except OSError as exc:
        asyncore.close_all()
        sys.stderr.write(f"asyncore-ng {kind}: cannot listen on {host}:{port}: {exc}\n")
        return 1
    if ready_fd is not None:
        _notify_ready(int(ready_fd))
    else:
        log(f"listening on {host}:{server.socket.getsockname()[1]}")
    return _loop_until_signalled()


def _notify_ready(fd: int) -> None:
    try:
        os.write(fd, b"ready\n")
    except OSError:
        pass  # the supervisor went away: it will not need it
    finally:
        os.close(fd)


def _loop_until_signalled() -> int:
    reactor = asyncore_ng.get_reactor(asyncore.socket_map)
    received: List[int] = []

    def on_signal(signum: int, frame: Optional[FrameType]) -> None:
        received.append(signum)
        # Queued, so that a signal arriving just before loop() starts still stops it.
        reactor.call_soon_threadsafe(reactor.stop)

    previous: List[Tuple[int, Any]] = []
    signals: Tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)
    for signum in signals:
        previous.append((signum, signal.signal(signum, on_signal)))
    try:
        while not received and asyncore.socket_map:
            asyncore.loop(timeout=30.0, use_poll=True)
    finally:
        asyncore.close_all()
        for signum, handler in previous:
            signal.signal(signum, handler)
    return 0
