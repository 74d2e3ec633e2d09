"""``--workers N``: N worker processes sharing the listening ports, supervised by the parent.

Each worker is a fresh interpreter (``python -m asyncore_ng run ...`` with the parent's
interpreter options), not a fork of the parent: it starts exactly as a single-process run
would (same ``sys.path``, ``__main__``, warnings), inherits no reactor, thread, lock or signal
handler from the supervisor, and works the same on every platform. The price is an
interpreter start (tens of milliseconds) per worker start.

Sharing the ports: workers get ``ASYNCORE_NG_REUSEPORT=1`` in their environment, and
``Dispatcher.bind()`` then sets ``SO_REUSEPORT`` on TCP sockets before binding, so every worker
binds the same address and the kernel spreads incoming connections over them. The program
must bind a fixed port (with port 0 each worker would get its own); ``asyncore-ng echo`` and
``chat`` with ``--port 0`` pick the port in the parent, which keeps it bound (not listening)
so that it stays reserved for the workers, restarted ones included.

Supervision: a worker that exits is logged on standard error with its exit status and started
again; a worker that ran less than ``STABLE_AFTER`` seconds is restarted after a delay that
doubles from ``RESTART_DELAY_FIRST`` up to ``RESTART_DELAY_MAX`` (a crash loop does not spin).
SIGINT, SIGTERM or SIGHUP to the parent stop all workers (SIGINT is passed on as SIGINT, the
others as SIGTERM; a second signal, or ``STOP_TIMEOUT`` seconds, and they are killed) and the
parent exits with status 0. Workers run in their own session, so a terminal's Ctrl-C reaches
the parent only, which passes it on once; on Linux a worker also gets SIGTERM if the parent
dies without stopping it.
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from types import FrameType
from typing import Any, Callable, Dict, List, Optional, Tuple

SUPERVISOR_ENV = "ASYNCORE_NG_SUPERVISOR_PID"
WORKER_ENV = "ASYNCORE_NG_WORKER"
REUSEPORT_ENV = "ASYNCORE_NG_REUSEPORT"
READY_FD_ENV = "ASYNCORE_NG_READY_FD"

RESTART_DELAY_FIRST = 0.1
RESTART_DELAY_MAX = 10.0
STABLE_AFTER = 5.0
STOP_TIMEOUT = 10.0

_PR_SET_PDEATHSIG = 1


def log(message: str) -> None:
    try:
        sys.stderr.write(f"asyncore-ng: {message}\n")
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass


# -- starting workers -------------------------------------------------------------------------


def interpreter_flags() -> List[str]:
    """The options this interpreter was started with that a worker must get too (as
    ``subprocess`` does for ``multiprocessing``): ``-W``, ``-X``, ``-O``, ``-B``, ``-I``..."""
    flags: List[str] = []
    f = sys.flags
    for attr, option in (
        ("debug", "d"),
        ("inspect", "i"),
        ("dont_write_bytecode", "B"),
        ("ignore_environment", "E"),
        ("no_user_site", "s"),
        ("no_site", "S"),
        ("isolated", "I"),
        ("safe_path", "P"),
        ("verbose", "v"),
        ("bytes_warning", "b"),
        ("quiet", "q"),
        ("optimize", "O"),
    ):
        value = int(getattr(f, attr, 0) or 0)
        if value:
            flags.append("-" + option * value)
    if getattr(sys.stdout, "write_through", False) and not os.environ.get("PYTHONUNBUFFERED"):
        flags.append("-u")
    for option in sys.warnoptions:
        flags += ["-W", option]
    for key, value in getattr(sys, "_xoptions", {}).items():
        flags += ["-X", key if value is True else f"{key}={value}"]
    return flags


def worker_command(arguments: List[str]) -> List[str]:
    """The command line of a worker running ``asyncore-ng ARGUMENTS`` in a fresh interpreter."""
    if not sys.executable:
        raise RuntimeError("--workers needs sys.executable to start worker interpreters")
    return [sys.executable, *interpreter_flags(), "-m", "asyncore_ng", *arguments]


def reserve_port(host: str, port: int) -> Tuple[socket.socket, int]:
    """A socket bound (not listening) to ``(host, port)`` with ``SO_REUSEPORT``: it holds the
    port (the kernel's choice for 0) for the workers, who bind it too. Raises ``OSError``."""
    reuseport = getattr(socket, "SO_REUSEPORT", None)
    if reuseport is None:
        raise OSError("SO_REUSEPORT is not available on this platform: --workers cannot share a port")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, reuseport, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock, int(sock.getsockname()[1])


# -- inside a worker --------------------------------------------------------------------------


def become_worker() -> None:
    """Called first in a process the supervisor started: on Linux, ask for SIGTERM when the
    supervisor dies (and leave if it already did)."""
    parent = os.environ.pop(SUPERVISOR_ENV, None)
    if parent is None or not parent.isdigit():
        return
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        except (ImportError, OSError, AttributeError):
            pass
    if os.getppid() != int(parent):
        raise SystemExit(0)  # the supervisor is gone already


# -- the supervisor ---------------------------------------------------------------------------


class _Slot:
    """One worker position: the process filling it now, and its restart bookkeeping."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self.started = 0.0
        self.start_at: Optional[float] = 0.0  # when to start the next process (None: running)
        self.quick_exits = 0  # consecutive exits before STABLE_AFTER
        self.ready_fd: Optional[int] = None
        self.ready = False


def _describe_status(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"was killed by {name}"
    return f"exited with status {returncode}"


class Supervisor:
    """Runs ``count`` copies of ``command`` and keeps them running until SIGINT/SIGTERM/SIGHUP.

    ``env``: added to each worker's environment (with ``ASYNCORE_NG_WORKER``, the worker's
    number from 1, and the supervisor's pid). With ``announce``, each worker gets a pipe
    (``ASYNCORE_NG_READY_FD``) to write to once it listens, and ``announce`` is printed on
    standard output once all of them have.
    """

    def __init__(
        self,
        command: List[str],
        count: int,
        env: Optional[Dict[str, str]] = None,
        announce: Optional[str] = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if count < 1:
            raise ValueError("at least one worker")
        self.command = command
        self.env = dict(env or {})
        self.announce = announce
        self.clock = clock
        self.slots = [_Slot(i + 1) for i in range(count)]
        self.stop_signals: List[int] = []
        self._announced = False
        self._selector: Optional[selectors.BaseSelector] = None
        self._wake_fd = -1

    # -- the main loop ------------------------------------------------------------------------

    def run(self) -> int:
        """Supervise until a stop signal; then stop every worker. Returns the exit status, 0."""
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        self._wake_fd = wake_r
        self._selector = selectors.DefaultSelector()
        self._selector.register(wake_r, selectors.EVENT_READ)
        previous: Dict[int, Any] = {}
        old_wakeup = signal.set_wakeup_fd(wake_w)
        try:
            for signum in self._stop_signal_numbers():
                previous[signum] = signal.signal(signum, self._on_stop_signal)
            previous[signal.SIGCHLD] = signal.signal(signal.SIGCHLD, self._on_child)
            self._supervise()
            self._stop_all()
        finally:
            for slot in self.slots:
                self._close_ready(slot)
                if slot.proc is not None and slot.proc.poll() is None:  # (an unexpected error)
                    slot.proc.kill()
                    slot.proc.wait()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            signal.set_wakeup_fd(old_wakeup)
            self._selector.close()
            os.close(wake_r)
            os.close(wake_w)
        return 0

    @staticmethod
    def _stop_signal_numbers() -> List[int]:
        numbers: List[int] = [signal.SIGINT, signal.SIGTERM]
        hangup = getattr(signal, "SIGHUP", None)
        if hangup is not None:
            numbers.append(hangup)
        return numbers

    def _on_stop_signal(self, signum: int, frame: Optional[FrameType]) -> None:
        self.stop_signals.append(signum)  # (the wake-up descriptor ends the current wait)

    def _on_child(self, signum: int, frame: Optional[FrameType]) -> None:
        pass  # only here to wake the wait up through the wake-up descriptor

    def _supervise(self) -> None:
        while not self.stop_signals:
            now = self.clock()
            for slot in self.slots:
                if slot.proc is None and slot.start_at is not None and slot.start_at <= now:
                    self._start(slot)
            if self.stop_signals:
                break
            self._maybe_announce()
            pending = [s.start_at for s in self.slots if s.proc is None and s.start_at is not None]
            self._wait(max(0.0, min(pending) - self.clock()) if pending else None)
            self._reap()

    def _wait(self, timeout: Optional[float]) -> None:
        assert self._selector is not None
        for key, _ in self._selector.select(timeout):
            fd = int(key.fd)
            if fd == self._wake_fd:
                try:
                    while os.read(fd, 4096):
                        pass
                except (BlockingIOError, InterruptedError):
                    pass
                continue
            slot = key.data
            try:
                data = os.read(fd, 64)
            except OSError:
                data = b""
            if data:
                slot.ready = True
            self._close_ready(slot)

    def _maybe_announce(self) -> None:
        if self.announce is None or self._announced:
            return
        if all(slot.ready for slot in self.slots):
            self._announced = True
            try:
                sys.stdout.write(self.announce + "\n")
                sys.stdout.flush()
            except (OSError, ValueError):
                pass

    # -- workers ------------------------------------------------------------------------------

    def _start(self, slot: _Slot) -> None:
        env = dict(os.environ)
        env.update(self.env)
        env[WORKER_ENV] = str(slot.index)
        env[SUPERVISOR_ENV] = str(os.getpid())
        ready_w: Optional[int] = None
        if self.announce is not None:
            slot.ready_fd, ready_w = os.pipe()
            env[READY_FD_ENV] = str(ready_w)
        slot.ready = False
        try:
            slot.proc = subprocess.Popen(
                self.command,
                env=env,
                stdin=subprocess.DEVNULL,
                pass_fds=() if ready_w is None else (ready_w,),
                start_new_session=True,
            )
        except OSError as exc:
            self._close_ready(slot)
            slot.proc = None
            slot.quick_exits += 1
            delay = self._delay(slot)
            slot.start_at = self.clock() + delay
            log(f"worker {slot.index} could not start: {exc}; trying again in {delay:.1f} s")
            return
        finally:
            if ready_w is not None:
                os.close(ready_w)
        slot.started = self.clock()
        slot.start_at = None
        if slot.ready_fd is not None:
            assert self._selector is not None
            self._selector.register(slot.ready_fd, selectors.EVENT_READ, slot)
        log(f"worker {slot.index} (pid {slot.proc.pid}) started")

    def _close_ready(self, slot: _Slot) -> None:
        if slot.ready_fd is None:
            return
        if self._selector is not None:
            try:
                self._selector.unregister(slot.ready_fd)
            except (KeyError, ValueError):
                pass
        os.close(slot.ready_fd)
        slot.ready_fd = None

    @staticmethod
    def _delay(slot: _Slot) -> float:
        if slot.quick_exits == 0:
            return 0.0
        return float(min(RESTART_DELAY_FIRST * 2 ** (slot.quick_exits - 1), RESTART_DELAY_MAX))

    def _reap(self) -> None:
        for slot in self.slots:
            proc = slot.proc
            if proc is None or proc.poll() is None:
                continue
            now = self.clock()
            lived = now - slot.started
            slot.proc = None
            self._close_ready(slot)
            slot.quick_exits = slot.quick_exits + 1 if lived < STABLE_AFTER else 0
            delay = self._delay(slot)
            slot.start_at = now + delay
            when = f"in {delay:.1f} s" if delay else "now"
            log(
                f"worker {slot.index} (pid {proc.pid}) {_describe_status(proc.returncode)} "
                f"after {lived:.1f} s; restarting it {when}"
            )

    def _stop_all(self) -> None:
        signum = signal.SIGINT if self.stop_signals[0] == signal.SIGINT else signal.SIGTERM
        running = [s.proc for s in self.slots if s.proc is not None and s.proc.poll() is None]
        name = signal.Signals(self.stop_signals[0]).name
        log(f"{name}: stopping {len(running)} worker(s)")
        for proc in running:
            try:
                proc.send_signal(signum)
            except ProcessLookupError:
                pass
        deadline = self.clock() + STOP_TIMEOUT
        seen = len(self.stop_signals)
        killed = False
        while any(proc.poll() is None for proc in running):
            now = self.clock()
            if not killed and (now >= deadline or len(self.stop_signals) > seen):
                if now >= deadline:
                    log(f"worker(s) still running after {STOP_TIMEOUT:.0f} s: killing them")
                for proc in running:
                    if proc.poll() is None:
                        proc.kill()
                killed = True
            self._wait(1.0 if killed else max(0.0, deadline - now))
        for slot in self.slots:
            slot.proc = None
        log("all workers stopped")
