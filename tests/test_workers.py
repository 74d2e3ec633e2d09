"""``--workers N``: worker processes sharing one port (SO_REUSEPORT through
``ASYNCORE_NG_REUSEPORT``), restarted when they die, all stopped by SIGINT/SIGTERM.

Every wait is on a line the parent or a worker prints (or on a connection), never on time.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest
from cli_support import DEADLINE, Child, child_env, pid_exists, read_line, reserve_port

from asyncore_ng import workers

#: A legacy-style server answering each connection with its pid, then echoing.
PID_SERVER = """\
import asyncore
import json
import os
import socket
import sys

port = int(sys.argv[1])


class Handler(asyncore.dispatcher_with_send):
    def __init__(self, sock):
        asyncore.dispatcher_with_send.__init__(self, sock)
        self.send(b"pid %d\\n" % os.getpid())

    def handle_read(self):
        data = self.recv(4096)
        if data:
            self.send(data)


class Server(asyncore.dispatcher):
    def __init__(self):
        asyncore.dispatcher.__init__(self)
        self.create_socket(socket.AF_INET, socket.SOCK_STREAM)
        self.set_reuse_addr()
        self.bind(("127.0.0.1", port))
        self.listen(64)

    def handle_accepted(self, sock, addr):
        Handler(sock)


Server()
print("ready", os.getpid(), os.environ["ASYNCORE_NG_WORKER"], asyncore.__asyncore_ng__,
      json.dumps(sys.warnoptions), flush=True)
asyncore.loop()
"""

READY = r"^ready (\d+) (\d+) True (.*)$"


def greet(port: int) -> Tuple[socket.socket, int]:
    """A connection and the pid of the worker that accepted it."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
    line = read_line(sock)
    match = re.fullmatch(rb"pid (\d+)\n", line)
    assert match, line
    return sock, int(match.group(1))


def connect_until(port: int, wanted: Set[int], held: Dict[int, socket.socket]) -> None:
    """Connect until every pid in ``wanted`` has accepted one connection, kept in ``held``
    (the kernel spreads connections over the workers by a hash of the addresses)."""
    for _ in range(300):
        if wanted <= set(held):
            return
        sock, pid = greet(port)
        if pid in held:
            sock.close()
        else:
            held[pid] = sock
    pytest.fail(f"300 connections reached only {sorted(held)}, wanted {sorted(wanted)}")


def connection_ended(sock: socket.socket) -> bool:
    """Whether the peer closed (or reset) ``sock``; closes it."""
    try:
        return sock.recv(100) == b""
    except ConnectionResetError:
        return True
    finally:
        sock.close()


def echoes(sock: socket.socket, payload: bytes) -> bool:
    sock.sendall(payload)
    got = b""
    while len(got) < len(payload):
        chunk = sock.recv(4096)
        if not chunk:
            return False
        got += chunk
    return got == payload


def test_run_workers_share_a_port_restart_and_stop(tmp_path: Path) -> None:
    script = tmp_path / "pid_server.py"
    script.write_text(PID_SERVER)
    held: Dict[int, socket.socket] = {}
    with reserve_port() as reservation:
        port = reservation.getsockname()[1]
        argv = [
            sys.executable, "-W", "ignore::ResourceWarning", "-m", "asyncore_ng", "run", "--workers", "2",
            "-W", "error::UserWarning", str(script), str(port),
        ]  # fmt: skip
        with Child(argv, child_env(), cwd=str(tmp_path)) as parent:
            try:
                first = [parent.expect(READY) for _ in range(2)]
                pids = {int(m.group(1)) for m in first}
                assert {m.group(2) for m in first} == {"1", "2"} and len(pids) == 2
                # Interpreter options and run's -W reach every worker.
                assert {m.group(3) for m in first} == {
                    json.dumps(["ignore::ResourceWarning", "error::UserWarning"])
                }
                connect_until(port, pids, held)
                assert set(held) == pids

                # Kill one worker: the other's connection goes on; the killed one is restarted.
                victim, survivor = sorted(pids)
                os.kill(victim, signal.SIGKILL)
                assert echoes(held[survivor], b"still here\n")
                parent.expect(rf"^asyncore-ng: worker \d \(pid {victim}\) was killed by SIGKILL after", "err")
                replacement = int(parent.expect(READY).group(1))
                assert replacement not in pids
                assert connection_ended(held.pop(victim))  # its connection died with it
                connect_until(port, {replacement}, held)
                assert echoes(held[replacement], b"new worker\n")
                assert echoes(held[survivor], b"old worker\n")

                # SIGTERM to the parent stops everything; it exits 0 and leaves nothing behind.
                parent.signal(signal.SIGTERM)
                assert parent.wait() == 0, parent.seen
                assert not pid_exists(survivor) and not pid_exists(replacement)
                assert all(connection_ended(sock) for sock in held.values())
                err = parent.rest("err")
                assert err[-2:] == [
                    "asyncore-ng: SIGTERM: stopping 2 worker(s)",
                    "asyncore-ng: all workers stopped",
                ]
                assert sum("started" in line for line in err) == 3
            finally:
                for sock in held.values():
                    sock.close()


def test_crash_looping_worker_backs_off(tmp_path: Path) -> None:
    script = tmp_path / "crash.py"
    script.write_text("import sys\nsys.exit(3)\n")
    with Child(
        [sys.executable, "-m", "asyncore_ng", "run", "--workers", "1", str(script)], child_env()
    ) as parent:
        delays: List[float] = []
        while len(delays) < 4:
            match = parent.expect(r"exited with status 3 after [\d.]+ s; restarting it in ([\d.]+) s", "err")
            delays.append(float(match.group(1)))
        assert delays == [0.1, 0.2, 0.4, 0.8]
        parent.signal(signal.SIGINT)
        assert parent.wait() == 0
        assert parent.rest("out") == []


DEMO_PIDS = r"\(worker (\d), pid (\d+)\)"


@pytest.mark.parametrize("kind", ["echo", "chat"])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_demo_workers_share_one_port(kind: str, signum: int) -> None:
    argv = [sys.executable, "-m", "asyncore_ng", kind, "--port", "0", "--workers", "2"]
    held: List[socket.socket] = []
    with Child(argv, child_env()) as parent:
        try:
            match = re.fullmatch(r"listening on 127\.0\.0\.1:(\d+)", parent.line())
            assert match, parent.seen
            port = int(match.group(1))
            started = {
                int(parent.expect(r"worker \d \(pid (\d+)\) started", "err").group(1)) for _ in range(2)
            }
            seen: Set[int] = set()
            for _ in range(300):
                if seen == started:
                    break
                sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
                held.append(sock)
                if kind == "chat":
                    line = read_line(sock).decode()
                    assert line.startswith("* welcome, you are guest"), line
                    pid = int(re.search(DEMO_PIDS, line).group(2))  # type: ignore[union-attr]
                else:
                    assert echoes(sock, b"ping\n")
                    local = sock.getsockname()[1]
                    pid = int(parent.expect(rf"^connection from 127\.0\.0\.1:{local} {DEMO_PIDS}$").group(2))
                seen.add(pid)
            assert seen == started
            parent.signal(signum)
            assert parent.wait() == 0
            announced = [line for line in parent.rest("out") if line.startswith("listening")]
            assert announced == [f"listening on 127.0.0.1:{port}"]
            assert not any(pid_exists(pid) for pid in started)
        finally:
            for sock in held:
                sock.close()


def test_run_workers_refuses_a_missing_script(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "asyncore_ng", "run", "--workers", "2", "missing.py"],
        cwd=str(tmp_path),
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    assert out.returncode == 2 and "can't open file 'missing.py'" in out.stderr


def test_worker_command_carries_the_interpreter_options() -> None:
    """What a worker is started with: this interpreter, its -W/-X options, -m asyncore_ng."""
    command = workers.worker_command(["run", "x.py"])
    assert command[0] == sys.executable and command[-4:] == ["-m", "asyncore_ng", "run", "x.py"]
    flags = command[1:-4]
    assert [flags[i + 1] for i, flag in enumerate(flags) if flag == "-W"] == sys.warnoptions
