#!/usr/bin/env python3
"""The package as published: build the sdist and the wheel once, then install the WHEEL (not the
checkout) into fresh venvs and run a legacy program through plain ``import asyncore``.

    python scripts/wheel_check.py --python 3.13=/path/to/python3.13 --python 3.8=/path/to/python3.8

The interpreter running this script builds (it needs the ``build`` package: the ``test``
extra). Steps, each failing the check with the reason:

1. ``python -m build`` on a copy of the tree (tracked and untracked-not-ignored files; nothing is
   written into the checkout): one sdist and one wheel.
2. The sdist carries the sources of tests/, docs/, examples/, benchmarks/ and scripts/, LICENSE,
   CHANGELOG.md and README.md, and no caches or build products; the wheel carries the three
   packages, the ``asyncore-ng`` console script and the license, and no tests.
3. For each interpreter: a fresh venv, ``pip install --no-index`` of the wheel, then
   tests/legacy_echo.py (copied out of the checkout, run from a temporary directory, with
   ``PYTHONWARNINGS=error::DeprecationWarning``) directly on 3.12+, through ``asyncore-ng run``
   on 3.8-3.11; it must report asyncore-ng's modules from the venv's site-packages and an echo
   served over loopback. On 3.8-3.11 a plain run must get the stdlib's (the check of the check).
   ``asyncore-ng status --json`` must agree, with the wheel's version installed.

4. For each interpreter: a fresh venv, ``pip install`` of the SDIST (setuptools fetched from the
   index, as users get it: no compiler is involved), ``import asyncore, asynchat`` from that
   venv's site-packages and ``asyncore-ng status --json`` naming the version.

``--keep-dist DIR`` copies the sdist and the wheel there; ``--from-dist DIR`` checks those
instead of building (CI builds once on the host and checks the same files again on the
interpreters of its Debian chroot, where there is no git: scripts/debian_pythons.sh).

Exit status 0 if every step passed. The temporary directory is removed, unless a step failed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from typing import Any, Dict, List, Optional, Sequence, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LEGACY = os.path.join(ROOT, "tests", "legacy_echo.py")

SDIST_MUST_HAVE = [
    "README.md",
    "CHANGELOG.md",
    "LICENSE",
    "pyproject.toml",
    "MANIFEST.in",
    "src/asyncore/__init__.py",
    "src/asynchat/__init__.py",
    "src/asyncore_ng/__init__.py",
    "src/asyncore_ng/cli.py",
    "docs/compat.md",
    "docs/index.md",
    "mkdocs.yml",
    "examples/echo_server.py",
    "tests/conftest.py",
    "tests/test_cli.py",
    "tests/legacy_echo.py",
    "benchmarks/run.py",
    "benchmarks/loadgen.c",
    "benchmarks/servers/asyncore_echo.py",
    "scripts/test.sh",
    "scripts/wheel_check.py",
]
SDIST_MUST_NOT_HAVE = ["__pycache__/", ".pyc", "/.venvs/", "benchmarks/build/", ".ci/venvs/"]
WHEEL_MUST_HAVE = [
    "asyncore/__init__.py",
    "asynchat/__init__.py",
    "asyncore_ng/__init__.py",
    "asyncore_ng/cli.py",
    "asyncore_ng/runner.py",
    "asyncore_ng/workers.py",
    "asyncore_ng/py.typed",
]


class CheckFailed(Exception):
    pass


def log(message: str) -> None:
    sys.stdout.write(f"[wheel check {time.strftime('%H:%M:%S')}] {message}\n")
    sys.stdout.flush()


def child_env(**extra: str) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "ASYNCORE_NG_"))}
    env.pop("VIRTUAL_ENV", None)
    env.update(extra)
    return env


def run(argv: Sequence[str], cwd: str, timeout: float = 120.0, **extra: str) -> Tuple[int, str, str]:
    out = subprocess.run(
        list(argv),
        cwd=cwd,
        env=child_env(**extra),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return out.returncode, out.stdout, out.stderr


def must(status: int, out: str, err: str, what: str) -> str:
    if status != 0:
        tail = "\n".join((out + err).strip().splitlines()[-15:])
        raise CheckFailed(f"{what} failed (status {status}):\n{tail}")
    return out


# -- 1. build ---------------------------------------------------------------------------------


def copy_tree(dest: str) -> None:
    """The files of the checkout (tracked, and untracked but not ignored) copied to ``dest``."""
    try:
        listed = subprocess.run(
            ["git", "-C", ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
        files = [f for f in listed.decode().split("\0") if f]
    except (OSError, subprocess.SubprocessError):
        files = []
    if not files:  # not a git checkout (an unpacked sdist): everything but caches
        shutil.copytree(
            ROOT,
            dest,
            ignore=shutil.ignore_patterns(
                "__pycache__", "*.pyc", ".venv*", "venvs", "build", "dist", "*.egg-info"
            ),
        )
        return
    for name in files:
        source = os.path.join(ROOT, name)
        if not os.path.isfile(source):  # deleted in the work tree
            continue
        target = os.path.join(dest, name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(source, target)


def build(tmp: str) -> Tuple[str, str]:
    tree = os.path.join(tmp, "tree")
    os.makedirs(tree)
    copy_tree(tree)
    dist = os.path.join(tmp, "dist")
    log(f"building the sdist and the wheel with {sys.executable} -m build")
    must(*run([sys.executable, "-m", "build", "--outdir", dist, tree], tmp, timeout=300), "python -m build")
    sdists = [f for f in os.listdir(dist) if f.endswith(".tar.gz")]
    wheels = [f for f in os.listdir(dist) if f.endswith(".whl")]
    if len(sdists) != 1 or len(wheels) != 1:
        raise CheckFailed(f"expected one sdist and one wheel, got {sorted(os.listdir(dist))}")
    return os.path.join(dist, sdists[0]), os.path.join(dist, wheels[0])


def _dist_files(folder: str) -> Tuple[str, str]:
    names = sorted(os.listdir(folder))
    sdists = [n for n in names if n.endswith(".tar.gz")]
    wheels = [n for n in names if n.endswith(".whl")]
    if len(sdists) != 1 or len(wheels) != 1:
        raise CheckFailed(f"{folder}: expected one sdist and one wheel, got {names}")
    return os.path.join(folder, sdists[0]), os.path.join(folder, wheels[0])


# -- 2. contents ------------------------------------------------------------------------------


def check_contents(sdist: str, wheel: str) -> str:
    with tarfile.open(sdist) as tar:
        names = [n.split("/", 1)[1] for n in tar.getnames() if "/" in n]
    missing = [n for n in SDIST_MUST_HAVE if n not in names]
    unwanted = [n for n in names if any(bad in n for bad in SDIST_MUST_NOT_HAVE)]
    if missing or unwanted:
        raise CheckFailed(f"sdist {os.path.basename(sdist)}: missing {missing}, unwanted {unwanted[:10]}")
    tops = sorted({n.split("/", 1)[0] for n in names})
    log(f"sdist {os.path.basename(sdist)}: {len(names)} entries; top level: {' '.join(tops)}")
    with zipfile.ZipFile(wheel) as whl:
        names = whl.namelist()
        dist_info = sorted({n.split("/", 1)[0] for n in names if ".dist-info/" in n})
        if len(dist_info) != 1:
            raise CheckFailed(f"wheel: {len(dist_info)} .dist-info directories")
        entry_points = whl.read(f"{dist_info[0]}/entry_points.txt").decode()
        metadata = whl.read(f"{dist_info[0]}/METADATA").decode()
    missing = [n for n in WHEEL_MUST_HAVE if n not in names]
    if not any(n.startswith(dist_info[0]) and n.endswith("LICENSE") for n in names):
        missing.append("LICENSE")
    if "asyncore-ng = asyncore_ng.cli:console_main" not in entry_points:
        missing.append("the asyncore-ng console script")
    unwanted = [n for n in names if n.startswith(("tests/", "benchmarks/")) or "__pycache__" in n]
    if missing or unwanted:
        raise CheckFailed(f"wheel {os.path.basename(wheel)}: missing {missing}, unwanted {unwanted[:10]}")
    version = next(
        line.split(":", 1)[1].strip() for line in metadata.splitlines() if line.startswith("Version:")
    )
    log(f"wheel {os.path.basename(wheel)}: {len(names)} files, version {version}, console script asyncore-ng")
    return version


# -- 3. fresh venvs ---------------------------------------------------------------------------


def fresh_venv_with(base: str, venv: str, what: str, tmp: str, *pip_args: str, timeout: float = 120.0) -> str:
    """A fresh venv of interpreter ``base`` at ``venv`` with ``pip install pip_args`` done in it;
    its python. ``what`` names the step in a failure."""
    must(*run([base, "-m", "venv", venv], tmp), f"venv for {what}")
    python = os.path.join(venv, "bin", "python")
    install = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", *pip_args]
    must(*run(install, tmp, timeout=timeout), f"pip install of {what}")
    return python


def status_json(venv: str, cwd: str) -> Dict[str, Any]:
    """What the venv's ``asyncore-ng status --json`` reports."""
    report: Dict[str, Any] = json.loads(
        must(*run([os.path.join(venv, "bin", "asyncore-ng"), "status", "--json"], cwd), "asyncore-ng status")
    )
    return report


def check_interpreter(label: str, base: str, wheel: str, version: str, tmp: str) -> None:
    venv = os.path.join(tmp, f"venv-{label}")
    started = time.monotonic()
    python = fresh_venv_with(base, venv, f"the wheel on CPython {label}", tmp, "--no-index", wheel)
    app = os.path.join(tmp, f"app-{label}")
    os.makedirs(app)
    script = os.path.join(app, "legacy_echo.py")
    shutil.copy2(LEGACY, script)
    site_packages = must(
        *run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], app), ""
    )
    site_packages = site_packages.strip()
    new_enough = must(*run([python, "-c", "import sys; print(sys.version_info >= (3, 12))"], app), "").strip()
    if new_enough == "True":
        how, argv = "python legacy_echo.py", [python, script]
    else:
        how, argv = (
            "asyncore-ng run legacy_echo.py",
            [os.path.join(venv, "bin", "asyncore-ng"), "run", script],
        )
        # The check of the check: plainly, the interpreter's own modules win here.
        plain = json.loads(must(*run([python, "-W", "ignore", script], app), f"plain run on CPython {label}"))
        if plain["asyncore_ng"] != [False, False]:
            raise CheckFailed(f"CPython {label}: a plain run got asyncore-ng's modules: {plain}")
    status, out, err = run(argv, app, timeout=60, PYTHONWARNINGS="error::DeprecationWarning")
    report = json.loads(must(status, out, err, f"{how} on CPython {label}").strip().splitlines()[-1])
    expected_files = [os.path.join(site_packages, name, "__init__.py") for name in ("asyncore", "asynchat")]
    problems: List[str] = []
    if err:
        problems.append(f"standard error not empty: {err.strip()[:300]}")
    if report["asyncore_ng"] != [True, True]:
        problems.append(f"not asyncore-ng's modules: {report['asyncore_ng']}")
    if [report["asyncore"], report["asynchat"]] != expected_files:
        problems.append(f"modules from {report['asyncore']}, {report['asynchat']}, not {site_packages}")
    if report["echoed"] != "hello from a legacy client":
        problems.append(f"the loopback client got {report['echoed']!r}")
    status_report = status_json(venv, app)
    if status_report["asyncore_ng"]["installed"] != version:
        problems.append(f"status: installed version {status_report['asyncore_ng']['installed']}")
    plain_kind = "asyncore-ng" if new_enough == "True" else "stdlib"
    if status_report["modules"]["asyncore"]["resolves_to"] != plain_kind:
        problems.append(f"status: import asyncore resolves to {status_report['modules']['asyncore']}")
    if problems:
        raise CheckFailed(f"CPython {label} ({how}): " + "; ".join(problems))
    log(
        f"CPython {report['python']}: {how} got asyncore-ng's modules from the wheel "
        f"({site_packages}) and echoed over loopback; status agrees ({time.monotonic() - started:.1f} s)"
    )


def check_sdist_install(label: str, base: str, sdist: str, version: str, tmp: str) -> None:
    venv = os.path.join(tmp, f"venv-sdist-{label}")
    started = time.monotonic()
    python = fresh_venv_with(base, venv, f"the sdist on CPython {label}", tmp, sdist, timeout=300)
    where = json.loads(
        must(
            *run([python, "-c", _SDIST_PROBE], tmp, PYTHONWARNINGS="ignore::DeprecationWarning"),
            f"import asyncore, asynchat after the sdist install on CPython {label}",
        )
    )
    site_packages = where.pop("site")
    problems = [f"{name} from {path}" for name, path in where.items() if not path.startswith(site_packages)]
    status_report = status_json(venv, tmp)
    if status_report["asyncore_ng"]["installed"] != version:
        problems.append(f"status: installed version {status_report['asyncore_ng']['installed']}")
    if problems:
        raise CheckFailed(f"CPython {label}, from the sdist: " + "; ".join(problems))
    took = time.monotonic() - started
    log(f"CPython {label}: the sdist installed and imports from {site_packages} ({took:.1f} s)")


# On 3.8-3.11 plain ``import asyncore`` is the stdlib's: the probe asks for ours by its package.
_SDIST_PROBE = """
import json, sys, sysconfig
if sys.version_info >= (3, 12):
    import asyncore, asynchat
else:
    from asyncore_ng import install; install(); import asyncore, asynchat
import asyncore_ng
print(json.dumps({"site": sysconfig.get_paths()["purelib"], "asyncore": asyncore.__file__,
                  "asynchat": asynchat.__file__, "asyncore_ng": asyncore_ng.__file__}))
"""


# -- main -------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--python",
        action="append",
        default=[],
        metavar="LABEL=PATH",
        help="an interpreter to install the wheel for (LABEL=PATH; PATH empty: skipped with a message)",
    )
    parser.add_argument("--keep-dist", metavar="DIR", help="copy the built sdist and wheel to DIR")
    parser.add_argument("--from-dist", metavar="DIR", help="check the sdist and wheel in DIR (no build)")
    return parser.parse_args(argv)


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    interpreters: List[Tuple[str, Optional[str]]] = []
    for item in args.python or [f"{sys.version_info[0]}.{sys.version_info[1]}={sys.executable}"]:
        label, _, path = item.partition("=")
        interpreters.append((label, path or None))
    started = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="asyncore-ng-wheel-check-")
    try:
        if args.from_dist:
            sdist, wheel = _dist_files(os.path.abspath(args.from_dist))
        else:
            sdist, wheel = build(tmp)
        version = check_contents(sdist, wheel)
        if args.keep_dist:
            os.makedirs(args.keep_dist, exist_ok=True)
            for name in os.listdir(args.keep_dist):
                os.remove(os.path.join(args.keep_dist, name))
            for path in (sdist, wheel):
                shutil.copy2(path, args.keep_dist)
        checked = 0
        for label, path in interpreters:
            if path is None:
                log(f"skip: CPython {label} not found on this machine")
                continue
            check_interpreter(label, path, wheel, version, tmp)
            check_sdist_install(label, path, sdist, version, tmp)
            checked += 1
        if not checked:
            raise CheckFailed("no interpreter to install the wheel for")
    except (CheckFailed, subprocess.TimeoutExpired, ValueError, KeyError) as exc:
        log(f"FAILED: {exc}")
        log(f"kept for inspection: {tmp}")
        return 1
    shutil.rmtree(tmp, ignore_errors=True)
    log(f"passed in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
