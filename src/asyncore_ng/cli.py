"""The ``asyncore-ng`` command, also ``python -m asyncore_ng``.

    asyncore-ng run [--workers N] [-W ARG] SCRIPT [ARGS...]     python SCRIPT ARGS..., on asyncore-ng
    asyncore-ng run [--workers N] [-W ARG] -m MODULE [ARGS...]  python -m MODULE ARGS..., on asyncore-ng
    asyncore-ng echo [--host H] [--port P] [--workers N]        a demo echo server
    asyncore-ng chat [--host H] [--port P] [--workers N]        a demo line-based chat room
    asyncore-ng status [--json]                                 what `import asyncore` gives, and why

``run`` is the runner (``asyncore_ng.runner``); ``--workers`` the supervisor
(``asyncore_ng.workers``); ``echo`` and ``chat`` the demos (``asyncore_ng.demos``, imported only
when they run, since they install the shims).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from typing import Any, Dict, List, Optional, Sequence

from . import TESTED_PYTHONS, __version__, runner
from ._install import SHIMS, resolve_shim, shim_path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORTS = {"echo": 8007, "chat": 8008}

#: Distributions that ship top-level ``asyncore``/``asynchat`` packages of their own.
CLASHING = ("pyasyncore", "pyasynchat", "standard-asyncore", "standard-asynchat")

RUN_USAGE = """\
usage: asyncore-ng run [-h] [--workers N] [-W ARG] (SCRIPT | -m MODULE) [ARGS...]

Run a program as `python SCRIPT ARGS...` or `python -m MODULE ARGS...` would, with
asyncore-ng's asyncore and asynchat in place of any other (the stdlib's on 3.8-3.11).

options:
  -h, --help   show this help message and exit
  --workers N  run N worker processes sharing the program's listening ports (SO_REUSEPORT on
               what it binds through asyncore; the program must bind a fixed port); the
               parent restarts a worker that dies and stops them all on SIGINT/SIGTERM
  -W ARG       a warning filter, as python's -W (may be repeated)
  -m MODULE    run a module (a package: its __main__); the rest are its arguments
"""


class UsageError(Exception):
    pass


# -- entry points -----------------------------------------------------------------------------


def console_main() -> int:
    """The ``asyncore-ng`` console script: the interpreter put the script's directory first on
    ``sys.path``; ``run`` gives that place to the program's."""
    argv0 = sys.argv[0] if sys.argv else ""
    launcher = runner.launcher_path0(os.path.dirname(os.path.realpath(argv0))) if argv0 else None
    return main(None, launcher)


def module_main() -> int:
    """``python -m asyncore_ng``: the interpreter put the current directory first on
    ``sys.path``; ``run`` gives that place to the program's."""
    try:
        cwd = os.getcwd()
    except OSError:
        return main(None, None)
    return main(None, runner.launcher_path0(cwd))


def main(argv: Optional[Sequence[str]] = None, launcher: Optional[str] = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); return the exit status.
    ``launcher``: the ``sys.path`` entry the interpreter added for the launcher, which ``run``
    replaces (see ``runner.launcher_path0``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "run":
        try:
            return _run(args[1:], launcher)
        except UsageError as exc:
            sys.stderr.write(f"{RUN_USAGE.splitlines()[0]}\nasyncore-ng run: error: {exc}\n")
            return 2
    ns = _parser().parse_args(args)
    if ns.command == "status":
        return _status(ns.json)
    return _demo(ns.command, ns.host, ns.port, ns.workers, ns.quiet)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="asyncore-ng",
        description="asyncore-ng: the asyncore/asynchat API on a modern reactor.",
    )
    parser.add_argument("--version", action="version", version=f"asyncore-ng {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    sub.add_parser(
        "run",
        help="run a script (or -m module) as python would, on asyncore-ng; --workers N",
        add_help=False,
    )
    for name, what in (("echo", "a demo echo server"), ("chat", "a demo line-based chat room")):
        demo = sub.add_parser(name, help=what, description=f"asyncore-ng {name}: {what}.")
        demo.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on ({DEFAULT_HOST})")
        demo.add_argument(
            "--port",
            type=int,
            default=DEFAULT_PORTS[name],
            help=f"port ({DEFAULT_PORTS[name]}; 0: any free one, shared by all workers)",
        )
        demo.add_argument("--workers", type=_worker_count, metavar="N", help="N worker processes")
        demo.add_argument("-q", "--quiet", action="store_true", help="do not print each connection")
    status = sub.add_parser("status", help="what `import asyncore`/`import asynchat` give, and why")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def _worker_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if count < 1:
        raise argparse.ArgumentTypeError("at least 1")
    return count


# -- run --------------------------------------------------------------------------------------


class RunOptions:
    def __init__(self) -> None:
        self.workers: Optional[int] = None
        self.warnoptions: List[str] = []
        self.module: Optional[str] = None
        self.script: Optional[str] = None
        self.args: List[str] = []


def parse_run(args: Sequence[str]) -> RunOptions:
    """``run``'s options, as python parses its own: everything after the script (or ``-m
    MODULE``) belongs to the program."""
    opts = RunOptions()
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("-h", "--help"):
            sys.stdout.write(RUN_USAGE)
            raise SystemExit(0)
        if arg == "--":
            if i + 1 >= len(args):
                raise UsageError("a script is needed after --")
            opts.script, opts.args = args[i + 1], list(args[i + 2 :])
            return opts
        if arg.startswith("-m"):
            if arg != "-m":
                opts.module, opts.args = arg[2:], list(args[i + 1 :])
            elif i + 1 < len(args):
                opts.module, opts.args = args[i + 1], list(args[i + 2 :])
            else:
                raise UsageError("argument -m: expected a module name")
            return opts
        if arg.startswith("-W"):
            if arg != "-W":
                opts.warnoptions.append(arg[2:])
            elif i + 1 < len(args):
                opts.warnoptions.append(args[i + 1])
                i += 1
            else:
                raise UsageError("argument -W: expected a warning filter")
            i += 1
            continue
        if arg == "--workers" or arg.startswith("--workers="):
            if "=" in arg:
                value = arg.split("=", 1)[1]
            elif i + 1 < len(args):
                value = args[i + 1]
                i += 1
            else:
                raise UsageError("argument --workers: expected a number")
            try:
                opts.workers = _worker_count(value)
            except argparse.ArgumentTypeError as exc:
                raise UsageError(f"argument --workers: {exc}") from None
            i += 1
            continue
        if arg == "-":
            raise UsageError("reading the program from standard input is not supported")
        if arg.startswith("-"):
            raise UsageError(f"unrecognized option {arg!r} (options go before the script)")
        opts.script, opts.args = arg, list(args[i + 1 :])
        return opts
    raise UsageError("a script or -m MODULE is required")


def _run(args: Sequence[str], launcher: Optional[str]) -> int:
    opts = parse_run(args)
    if opts.workers is not None:
        return _supervise_run(opts)
    _maybe_become_worker()
    for option in opts.warnoptions:
        runner.add_warning_option(option)
    if opts.module is not None:
        runner.run_module(opts.module, opts.args, launcher)
    else:
        assert opts.script is not None
        runner.run_path(opts.script, opts.args, launcher)
    return 0


def _maybe_become_worker() -> None:
    # (asyncore_ng.workers, with subprocess and selectors, is imported only where it is used:
    # the runner brings in as little as it can before the program runs)
    if "ASYNCORE_NG_SUPERVISOR_PID" in os.environ:
        from . import workers

        workers.become_worker()


def _supervise_run(opts: RunOptions) -> int:
    from . import workers

    arguments = ["run"]
    for option in opts.warnoptions:
        arguments += ["-W", option]
    if opts.module is not None:
        arguments += ["-m", opts.module]
    else:
        assert opts.script is not None
        if not os.path.exists(opts.script):
            sys.stderr.write(f"asyncore-ng run: can't open file {opts.script!r}: no such file\n")
            return 2
        arguments += ["--", opts.script]
    arguments += opts.args
    assert opts.workers is not None
    supervisor = workers.Supervisor(
        workers.worker_command(arguments), opts.workers, env={workers.REUSEPORT_ENV: "1"}
    )
    return supervisor.run()


# -- echo and chat ----------------------------------------------------------------------------


def _demo(kind: str, host: str, port: int, count: Optional[int], quiet: bool) -> int:
    if count is None:
        _maybe_become_worker()
        from . import demos

        return demos.serve(kind, host, port, quiet)
    from . import workers

    try:
        reservation, shared_port = workers.reserve_port(host, port)
    except OSError as exc:
        sys.stderr.write(f"asyncore-ng {kind}: cannot listen on {host}:{port}: {exc}\n")
        return 1
    try:
        arguments = [kind, "--host", host, "--port", str(shared_port)] + (["--quiet"] if quiet else [])
        supervisor = workers.Supervisor(
            workers.worker_command(arguments),
            count,
            env={workers.REUSEPORT_ENV: "1"},
            announce=f"listening on {host}:{shared_port}",
        )
        return supervisor.run()
    finally:
        reservation.close()


# -- status -----------------------------------------------------------------------------------


def status_report() -> Dict[str, Any]:
    """What ``asyncore-ng status`` reports, as data."""
    from .reactor import available_backends

    report: Dict[str, Any] = {
        "asyncore_ng": {
            "version": __version__,
            "path": os.path.dirname(os.path.abspath(__file__)),
            "installed": _distribution_version("asyncore-ng"),
        },
        "python": {
            "version": sys.version.split()[0],
            "executable": sys.executable,
            "implementation": sys.implementation.name,
            "tested": sys.implementation.name == "cpython" and sys.version_info[:2] in TESTED_PYTHONS,
            "tested_versions": [f"{major}.{minor}" for major, minor in TESTED_PYTHONS],
        },
        "modules": {},
        "clashes": {},
    }
    for name in SHIMS:
        kind, origin = resolve_shim(name)
        report["modules"][name] = {
            "resolves_to": kind,
            "path": origin or None,
            "why": _why(name, kind, origin),
            "ours_at": shim_path(name),
        }
    for dist in CLASHING:
        version = _distribution_version(dist)
        if version is not None:
            report["clashes"][dist] = version
    available = available_backends()
    forced = os.environ.get("ASYNCORE_NG_BACKEND") or None
    # Event-loop backends (asyncore_ng.aio): they nest the epoll poller; uvloop is optional.
    event_loops = {
        "asyncio": available[0] == "epoll",
        "uvloop": available[0] == "epoll" and importlib.util.find_spec("uvloop") is not None,
    }
    usable = available + [name for name, ok in event_loops.items() if ok]
    report["backend"] = {
        "in_use": available[0] if forced is None else (forced if forced in usable else None),
        "available": available,
        "event_loops": event_loops,
        "ASYNCORE_NG_BACKEND": forced,
    }
    return report


def _why(name: str, kind: str, origin: str) -> str:
    if kind == "asyncore-ng":
        if name in sys.modules:
            return "asyncore-ng's module, already imported (asyncore_ng.install())"
        if sys.version_info >= (3, 12):
            return "asyncore-ng's package: Python 3.12+ has no asyncore of its own"
        return "asyncore-ng's package comes first on sys.path (before the standard library)"
    if kind == "stdlib":
        return (
            "the standard library's own (deprecated) module: on Python 3.8-3.11 it is found before "
            "site-packages; run programs with `asyncore-ng run`, or call asyncore_ng.install() "
            "before anything imports it"
        )
    if kind == "missing":
        return "nothing: not installed here (and Python 3.12+ has no asyncore of its own)"
    if origin and os.path.abspath(origin) == shim_path(name):
        return (
            "asyncore-ng's file was overwritten by another distribution (pyasyncore, "
            "standard-asyncore...): uninstall it, then reinstall asyncore-ng"
        )
    return (
        "another distribution's module comes first (pyasyncore, standard-asyncore...): "
        "`asyncore-ng run` and asyncore_ng.install() still give asyncore-ng's"
    )


def _distribution_version(name: str) -> Optional[str]:
    try:
        from importlib import metadata
    except ImportError:  # pragma: no cover (3.8+ has it)
        return None
    try:
        return str(metadata.version(name))
    except metadata.PackageNotFoundError:
        return None


def _tested_line(python: Dict[str, Any]) -> str:
    versions = python["tested_versions"]
    span = f"CPython {versions[0]}-{versions[-1]}"
    if python["tested"]:
        return f"    a version the whole test suite runs on in CI ({span})"
    implementation = "CPython" if python["implementation"] == "cpython" else python["implementation"]
    return f"    not tested: CI runs the whole test suite on {span}, not {implementation} {python['version']}"


def _status(as_json: bool) -> int:
    report = status_report()
    # Broken: our shim file was overwritten by another distribution, or nothing is found at
    # all (a clashing distribution was uninstalled and took our files with it).
    broken = any(
        not m["path"] or (m["resolves_to"] == "other" and os.path.abspath(m["path"]) == m["ours_at"])
        for m in report["modules"].values()
    )
    backend = report["backend"]
    if as_json:
        import json

        sys.stdout.write(json.dumps(report, indent=2) + "\n")
        return 1 if broken or backend["in_use"] is None else 0
    ng = report["asyncore_ng"]
    installed = f"installed distribution {ng['installed']}" if ng["installed"] else "from a source tree"
    lines = [
        f"asyncore-ng {ng['version']} ({installed}) at {ng['path']}",
        f"Python {report['python']['version']} ({report['python']['executable']})",
        _tested_line(report["python"]),
    ]
    for name, m in report["modules"].items():
        lines.append(f"import {name}: {m['resolves_to']} ({m['path'] or 'not found'})")
        lines.append(f"    {m['why']}")
    if report["clashes"]:
        for dist, version in report["clashes"].items():
            lines.append(
                f"clash: {dist} {version} is installed; it ships a top-level package of the same "
                "name and pip lays its files over asyncore-ng's (or the reverse): uninstall it, "
                "then reinstall asyncore-ng"
            )
    else:
        lines.append("clashes: none (no pyasyncore, pyasynchat, standard-asyncore, standard-asynchat)")
    loops = [name if ok else f"{name} (not here)" for name, ok in backend["event_loops"].items()]
    available = ", ".join(backend["available"] + loops)
    if backend["ASYNCORE_NG_BACKEND"] is None:
        lines.append(f"backend: {backend['in_use']} (the best available: {available})")
    elif backend["in_use"] is not None:
        lines.append(f"backend: {backend['in_use']} (ASYNCORE_NG_BACKEND; available: {available})")
    else:
        lines.append(
            f"backend: ASYNCORE_NG_BACKEND={backend['ASYNCORE_NG_BACKEND']!r} is not available "
            f"here (available: {available}): reactors cannot be created"
        )
    sys.stdout.write("\n".join(lines) + "\n")
    return 1 if broken or backend["in_use"] is None else 0
