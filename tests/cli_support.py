"""Helpers for the command-line tests (test_cli.py, test_workers.py): other CPython versions,
the children's environment, and a running child whose output is read line by line."""

from __future__ import annotations

import glob
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import threading
from typing import IO, Dict, List, Optional, Sequence, Tuple

import pytest

TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)
SRC = os.path.join(ROOT, "src")
DEADLINE = 20.0  # seconds for any one wait on a child

#: What a pip-generated console script does (setuptools' entry point wrapper), calling ours.
CONSOLE_SCRIPT = """\
# -*- coding: utf-8 -*-
import re
import sys
from asyncore_ng.cli import console_main
if __name__ == "__main__":
    sys.argv[0] = re.sub(r"(-script\\.pyw|\\.exe)?$", "", sys.argv[0])
    sys.exit(console_main())
"""


def _version_key(path: str) -> Tuple[int, ...]:
    name = os.path.basename(os.path.dirname(os.path.dirname(path)))
    return tuple(int(part) for part in name.split("."))


def find_cpython(version: str) -> Optional[str]:
    """The newest pyenv CPython ``version`` (``"3.8"``), else ``python3.8`` on PATH."""
    roots = [os.environ.get("PYENV_ROOT") or "", os.path.expanduser("~/.pyenv")]
    pattern = re.compile(rf"^{re.escape(version)}\.\d+$")
    for root in roots:
        if not root:
            continue
        found = [
            p
            for p in glob.glob(os.path.join(root, "versions", version + ".*", "bin", "python3"))
            if pattern.match(os.path.basename(os.path.dirname(os.path.dirname(p))))
        ]
        if found:
            return max(found, key=_version_key)
    return shutil.which("python" + version)


def child_env(pythonpath: Optional[str] = SRC, **extra: str) -> Dict[str, str]:
    """The environment of a child: none of the test run's PYTHON* or ASYNCORE_NG_* settings,
    the checkout's src/ on PYTHONPATH (unless ``pythonpath`` says otherwise), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "ASYNCORE_NG_"))}
    env.pop("VIRTUAL_ENV", None)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    env.update(extra)
    return env


def make_console_script(directory: str) -> str:
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "asyncore-ng")
    with open(path, "w") as f:
        f.write(CONSOLE_SCRIPT)
    return path


def reserve_port() -> socket.socket:
    """A socket bound to a free loopback port with SO_REUSEPORT, not listening: the port stays
    ours (for workers, who bind it with SO_REUSEPORT too) until the socket is closed."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Child:
    """A running child whose standard output and error are read line by line by threads."""

    def __init__(self, argv: Sequence[str], env: Dict[str, str], cwd: Optional[str] = None) -> None:
        self.argv = list(argv)
        self.proc = subprocess.Popen(
            self.argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.queues: Dict[str, queue.Queue[Optional[str]]] = {"out": queue.Queue(), "err": queue.Queue()}
        self.seen: Dict[str, List[str]] = {"out": [], "err": []}
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._threads = [
            threading.Thread(target=self._pump, args=("out", self.proc.stdout), daemon=True),
            threading.Thread(target=self._pump, args=("err", self.proc.stderr), daemon=True),
        ]
        for t in self._threads:
            t.start()

    def _pump(self, name: str, stream: IO[bytes]) -> None:
        for raw in stream:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.seen[name].append(line)
            self.queues[name].put(line)
        self.queues[name].put(None)

    def line(self, stream: str = "out", timeout: float = DEADLINE) -> str:
        """The next line of ``stream`` ("out" or "err"); fails if none comes in time."""
        try:
            line = self.queues[stream].get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"no line on std{stream} of {self.argv!r} within {timeout} s; so far: {self.seen!r}")
        if line is None:
            self.queues[stream].put(None)
            rc = self.proc.wait(DEADLINE)
            pytest.fail(f"std{stream} of {self.argv!r} ended (status {rc}); seen: {self.seen!r}")
        return line

    def expect(self, pattern: str, stream: str = "out", timeout: float = DEADLINE) -> re.Match[str]:
        """Skip lines of ``stream`` until one matches ``pattern`` (re.search); return the match."""
        while True:
            line = self.line(stream, timeout)
            match = re.search(pattern, line)
            if match:
                return match

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float = DEADLINE) -> int:
        rc = self.proc.wait(timeout)
        for t in self._threads:
            t.join(timeout)
        return rc

    def rest(self, stream: str) -> List[str]:
        """Every line of ``stream`` once the child has ended."""
        return list(self.seen[stream])

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(DEADLINE)
        for t in self._threads:
            t.join(DEADLINE)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_line(sock: socket.socket, limit: int = 65536) -> bytes:
    """One line (up to ``\\n``) from a blocking socket, byte by byte (no read-ahead lost)."""
    data = bytearray()
    while not data.endswith(b"\n"):
        chunk = sock.recv(1)
        if not chunk:
            break
        data += chunk
        if len(data) > limit:
            break
    return bytes(data)
