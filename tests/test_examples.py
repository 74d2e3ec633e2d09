"""The documentation's two examples (examples/), run as a user runs them, against loopback peers.

Each example runs in a subprocess of the test interpreter, in each of three ways:

* ``plain``: ``python examples/X.py ...``, exactly as written. Only when a fresh interpreter
  with the same environment resolves ``import asyncore`` to ours with no help, as
  ``asyncore_ng.shim_status()`` reports (3.12+ with the package installed; also any version
  when the source tree is on ``PYTHONPATH``, which shadows the stdlib).
* ``bootstrap``: ``python -c BOOTSTRAP examples/X.py ...``, a few lines that call
  ``asyncore_ng.install()`` and ``runpy.run_path`` the example: what 3.8-3.11 need when the
  package is installed and the stdlib's asyncore would win.
* ``runner``: ``python -m asyncore_ng run examples/X.py ...``, the documented way to run a
  legacy script unchanged on any version.

When the test run found ``asyncore_ng`` outside site-packages (``PYTHONPATH=src``), the
children get that directory on ``PYTHONPATH`` too.
"""

from __future__ import annotations

import ast
import errno
import http.server
import json
import os
import queue
import re
import signal
import site
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Dict, Iterator, List, Optional, Tuple

import pytest

import asyncore_ng

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
ECHO_SERVER = os.path.join(EXAMPLES, "echo_server.py")
HTTP_CLIENT = os.path.join(EXAMPLES, "http_client.py")

DEADLINE = 20.0  # seconds for any one wait on a child; generous for slow CI machines

BOOTSTRAP = """\
import runpy, sys
import asyncore_ng
asyncore_ng.install()
import asyncore
if getattr(asyncore, "__asyncore_ng__", False) is not True:
    raise SystemExit("bootstrap: import asyncore did not give asyncore-ng's module")
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


# -- how to start a child -------------------------------------------------------------------


def _child_env() -> Dict[str, str]:
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(asyncore_ng.__file__)))
    installed = {os.path.abspath(p) for p in [*site.getsitepackages(), site.getusersitepackages()]}
    if root not in installed:
        current = env.get("PYTHONPATH")
        env["PYTHONPATH"] = os.pathsep.join([root, current]) if current else root
    return env


@pytest.fixture(scope="module")
def child_env() -> Dict[str, str]:
    return _child_env()


@pytest.fixture(scope="module")
def fresh_shim_status(child_env: Dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Dict[str, str]:
    """What ``shim_status()`` says in a fresh child with the children's environment."""
    out = subprocess.run(
        [sys.executable, "-c", "import json, asyncore_ng; print(json.dumps(asyncore_ng.shim_status()))"],
        env=child_env,
        cwd=str(tmp_path_factory.mktemp("probe")),
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    assert out.returncode == 0, out.stderr
    status: Dict[str, str] = json.loads(out.stdout)
    return status


@pytest.fixture(params=["plain", "bootstrap", "runner"])
def launch(request: pytest.FixtureRequest, fresh_shim_status: Dict[str, str]) -> Iterator[List[str]]:
    """The command prefix that runs an example: append the script and its arguments."""
    if request.param == "plain":
        if fresh_shim_status["asyncore"] != "asyncore-ng":
            pytest.skip(
                "a plain `import asyncore` in a fresh interpreter gives "
                f"{fresh_shim_status['asyncore']!r} here (Python {sys.version_info[0]}."
                f"{sys.version_info[1]}): examples need the bootstrap"
            )
        yield [sys.executable]
    elif request.param == "bootstrap":
        yield [sys.executable, "-c", BOOTSTRAP]
    else:
        yield [sys.executable, "-m", "asyncore_ng", "run"]


class Child:
    """A running example whose standard output is read line by line by a thread."""

    def __init__(self, argv: List[str], env: Dict[str, str], cwd: str) -> None:
        self.proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines: queue.Queue[Optional[bytes]] = queue.Queue()
        self.stderr_chunks: List[bytes] = []
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._threads = [
            threading.Thread(target=self._pump_lines, args=(self.proc.stdout,), daemon=True),
            threading.Thread(target=self._pump_all, args=(self.proc.stderr,), daemon=True),
        ]
        for t in self._threads:
            t.start()

    def _pump_lines(self, stream: IO[bytes]) -> None:
        for line in stream:
            self.lines.put(line)
        self.lines.put(None)

    def _pump_all(self, stream: IO[bytes]) -> None:
        for chunk in iter(lambda: stream.read1(65536), b""):  # type: ignore[attr-defined]
            self.stderr_chunks.append(chunk)

    def next_line(self, timeout: float = DEADLINE) -> bytes:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"no output line from {self.proc.args!r} within {timeout} s")
        if line is None:
            self.wait(DEADLINE)
            pytest.fail(f"child exited ({self.proc.returncode}) early: {self.stderr!r}")
        return line

    @property
    def stderr(self) -> bytes:
        return b"".join(self.stderr_chunks)

    def wait(self, timeout: float) -> int:
        rc = self.proc.wait(timeout)
        for t in self._threads:
            t.join(timeout)
        return rc

    def assert_quiet(self) -> None:
        """After the child ended: nothing on standard error, and nothing on standard output but
        the server's announcements (``handle_error`` logs "error: ..." there)."""
        rest = []
        while not self.lines.empty():
            line = self.lines.get_nowait()
            if line is not None:
                rest.append(line)
        assert self.stderr == b"", self.stderr.decode(errors="replace")
        assert all(line.startswith(b"Incoming connection from ") for line in rest), rest

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(DEADLINE)
        for t in self._threads:
            t.join(DEADLINE)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def _have_ipv6() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


# -- echo server ----------------------------------------------------------------------------


def _start_echo(launch: List[str], env: Dict[str, str], cwd: str, host: str) -> Tuple[Child, int]:
    child = Child([*launch, ECHO_SERVER, host, "0"], env, cwd)
    line = child.next_line().decode().strip()
    prefix = f"listening on {host}:"
    assert line.startswith(prefix), line
    return child, int(line[len(prefix) :])


def _echo_roundtrip(sock: socket.socket, payload: bytes) -> bytes:
    """Send ``payload`` from a thread while reading the echo here; return what came back."""
    sender = threading.Thread(target=sock.sendall, args=(payload,))
    sender.start()
    got = bytearray()
    try:
        while len(got) < len(payload):
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            got += chunk
    finally:
        sender.join(DEADLINE)
    return bytes(got)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_echo_server_serves_several_clients(
    launch: List[str], child_env: Dict[str, str], tmp_path: Path, host: str
) -> None:
    if host == "::1" and not _have_ipv6():
        pytest.skip("no IPv6 loopback on this machine")
    child, port = _start_echo(launch, child_env, str(tmp_path), host)
    clients: List[socket.socket] = []
    try:
        # Several clients connected at once, each getting exactly its own bytes back.
        for _ in range(5):
            clients.append(socket.create_connection((host, port), timeout=DEADLINE))
        for i, c in enumerate(clients):
            message = b"client %d says hello\n" % i
            assert _echo_roundtrip(c, message) == message
        # Interleaved: every client sends before any reads.
        for i, c in enumerate(clients):
            c.sendall(b"second %d;" % i)
        for i, c in enumerate(clients):
            expected = b"second %d;" % i
            got = b""
            while len(got) < len(expected):
                chunk = c.recv(4096)
                assert chunk, "server closed early"
                got += chunk
            assert got == expected
        # 1 MiB through one connection, exactly.
        big = os.urandom(1 << 20)
        assert _echo_roundtrip(clients[0], big) == big
        # The server announced each connection (printed as they are accepted).
        prefix = "Incoming connection from "
        announced = [child.next_line().decode().strip() for _ in clients]
        assert all(line.startswith(prefix) for line in announced), announced
        peers = [ast.literal_eval(line[len(prefix) :]) for line in announced]
        assert sorted(p[:2] for p in peers) == sorted(c.getsockname()[:2] for c in clients)
    finally:
        for c in clients:
            c.close()
        child.kill()
    child.assert_quiet()


def test_echo_server_survives_a_client_that_vanishes(
    launch: List[str], child_env: Dict[str, str], tmp_path: Path
) -> None:
    child, port = _start_echo(launch, child_env, str(tmp_path), "127.0.0.1")
    try:
        # A client that resets the connection with unread echo pending.
        rude = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
        rude.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
        rude.sendall(b"x" * 100_000)
        rude.close()
        assert child.next_line().startswith(b"Incoming connection from ")
        with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as polite:
            assert _echo_roundtrip(polite, b"still there?") == b"still there?"
        assert child.proc.poll() is None
    finally:
        child.kill()
    child.assert_quiet()


def test_echo_server_stops_on_ctrl_c(launch: List[str], child_env: Dict[str, str], tmp_path: Path) -> None:
    """KeyboardInterrupt leaves loop() at once, even in the middle of a long wait."""
    import signal

    child, port = _start_echo(launch, child_env, str(tmp_path), "127.0.0.1")
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as c:
            assert _echo_roundtrip(c, b"ping") == b"ping"
            started = time.monotonic()
            child.proc.send_signal(signal.SIGINT)
            assert child.wait(DEADLINE) == 0, child.stderr.decode(errors="replace")
            assert time.monotonic() - started < 5.0
            # close_all() in the example's finally closed the accepted connection too.
            c.settimeout(DEADLINE)
            assert c.recv(10) == b""
    finally:
        child.kill()
    child.assert_quiet()


# -- HTTP client ----------------------------------------------------------------------------

BIG_BODY = bytes(range(256)) * 800  # 200 KiB: many reads of 8192 bytes


class _Handler(http.server.BaseHTTPRequestHandler):
    requests: List[Tuple[str, Optional[str]]]

    def do_GET(self) -> None:
        self.requests.append((self.path, self.headers.get("Host")))
        body = BIG_BODY if self.path == "/big" else b"hello from loopback: %s\n" % self.path.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[Tuple[int, List[Tuple[str, Optional[str]]]]]:
    requests: List[Tuple[str, Optional[str]]] = []
    handler = type("Handler", (_Handler,), {"requests": requests})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server.server_address[1], requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join(DEADLINE)


@pytest.mark.parametrize("path", ["/index.html", "/big"])
def test_http_client_prints_the_response(
    launch: List[str],
    child_env: Dict[str, str],
    tmp_path: Path,
    http_server: Tuple[int, List[Tuple[str, Optional[str]]]],
    path: str,
) -> None:
    port, requests = http_server
    out = subprocess.run(
        [*launch, HTTP_CLIENT, "127.0.0.1", str(port), path],
        env=child_env,
        cwd=str(tmp_path),
        capture_output=True,
        timeout=DEADLINE,
    )
    assert out.returncode == 0, out.stderr.decode(errors="replace")
    assert out.stderr == b""
    head, sep, body = out.stdout.partition(b"\r\n\r\n")
    assert sep, out.stdout[:500]
    status_line = head.split(b"\r\n", 1)[0]
    assert status_line == b"HTTP/1.0 200 OK"
    expected = BIG_BODY if path == "/big" else b"hello from loopback: %s\n" % path.encode()
    assert body == expected
    assert requests == [(path, f"127.0.0.1:{port}")]


def test_http_client_reports_a_refused_connection(
    launch: List[str], child_env: Dict[str, str], tmp_path: Path
) -> None:
    """A refused connect surfaces as an error and the loop ends: no silent hang."""
    with socket.socket() as bound_not_listening:
        bound_not_listening.bind(("127.0.0.1", 0))
        port = bound_not_listening.getsockname()[1]
        out = subprocess.run(
            [*launch, HTTP_CLIENT, "127.0.0.1", str(port), "/"],
            env=child_env,
            cwd=str(tmp_path),
            capture_output=True,
            timeout=DEADLINE,
        )
    assert out.returncode == 1
    assert b"no response from 127.0.0.1:%d" % port in out.stderr
    # The default handle_error logs the refusal (log_info prints to standard output).
    assert os.strerror(errno.ECONNREFUSED).encode() in out.stdout, out.stdout


# -- mixed asyncio / asyncore (asyncore_ng.aio) -----------------------------------------------------

MIXED = os.path.join(EXAMPLES, "mixed_asyncio.py")


def _line_exchange(port: int, line: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as s:
        s.sendall(line)
        got = b""
        while not got.endswith(b"\n"):
            chunk = s.recv(4096)
            assert chunk, f"port {port} closed before answering {line!r} (got {got!r})"
            got += chunk
        return got


@pytest.mark.parametrize("kind", ["asyncio", "uvloop"])
def test_mixed_asyncio_example(kind: str, child_env: Dict[str, str], tmp_path: Path) -> None:
    """The unchanged asyncore echo server and an asyncio server from one thread, and a legacy
    asynchat handler that awaits an asyncio client call; stopped by SIGINT, exit status 0."""
    from conftest import UVLOOP_MISSING

    if kind == "uvloop" and UVLOOP_MISSING is not None:
        pytest.skip(UVLOOP_MISSING)
    flags = ["--uvloop"] if kind == "uvloop" else []
    child = Child([sys.executable, MIXED, *flags, "127.0.0.1"], child_env, str(tmp_path))
    try:
        first = child.next_line().decode().strip()
        match = re.fullmatch(
            r"echo \(asyncore\) on 127\.0\.0\.1:(\d+), upper \(asyncio\) on 127\.0\.0\.1:(\d+), "
            r"ask \(asynchat awaiting asyncio\) on 127\.0\.0\.1:(\d+)",
            first,
        )
        assert match, first
        echo, upper, ask = (int(p) for p in match.groups())
        assert _line_exchange(echo, b"echo me\n") == b"echo me\n"
        assert _line_exchange(upper, b"shout\n") == b"SHOUT\n"
        # Several legacy clients at once, each awaiting its own asyncio call.
        results: Dict[int, bytes] = {}

        def ask_one(i: int) -> None:
            results[i] = _line_exchange(ask, b"hello %d\n" % i)

        threads = [threading.Thread(target=ask_one, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(DEADLINE)
        assert results == {i: b"upper says: HELLO %d\n" % i for i in range(8)}
        assert child.next_line().startswith(b"Incoming connection from ")  # the echo server's
        child.proc.send_signal(signal.SIGINT)
        assert child.wait(DEADLINE) == 0
    finally:
        child.kill()
    child.assert_quiet()
