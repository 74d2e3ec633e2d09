"""The docs' cookbook recipes (docs/recipes/*.py) run as the cookbook tells users to run them.

Each recipe is a whole program that checks its own outcome and exits 0. It runs in a child
interpreter through ``python -m asyncore_ng run`` (the way that works on every Python 3.8-3.13;
on 3.12+ ``python recipe.py`` finds the same modules), with warnings as errors. The TLS client
runs against examples/tls_echo_server.py with certificates minted at test time.
"""

from __future__ import annotations

import os
import signal
import site
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Dict, List

import pytest

import asyncore_ng

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPES = os.path.join(ROOT, "docs", "recipes")
TLS_SERVER = os.path.join(ROOT, "examples", "tls_echo_server.py")
NEEDS_A_SERVER = {"tls_client.py"}
DEADLINE = 60.0


def child_env() -> Dict[str, str]:
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(asyncore_ng.__file__)))
    installed = {os.path.abspath(p) for p in [*site.getsitepackages(), site.getusersitepackages()]}
    if root not in installed:
        current = env.get("PYTHONPATH")
        env["PYTHONPATH"] = os.pathsep.join([root, current]) if current else root
    return env


def run(script: str, *args: str) -> List[str]:
    return [sys.executable, "-W", "error", "-m", "asyncore_ng", "run", script, *args]


def standalone_recipes() -> List[str]:
    return sorted(n for n in os.listdir(RECIPES) if n.endswith(".py") and n not in NEEDS_A_SERVER)


def test_the_cookbook_has_recipes() -> None:
    assert len(standalone_recipes()) >= 7


@pytest.mark.parametrize("name", standalone_recipes())
def test_recipe_runs_and_checks_itself(name: str) -> None:
    out = subprocess.run(
        run(os.path.join(RECIPES, name)),
        env=child_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        cwd=ROOT,
    )
    assert out.returncode == 0, f"{name} failed:\n{out.stdout}\n{out.stderr}"
    assert "Traceback" not in out.stderr, out.stderr
    assert out.stdout.strip(), f"{name} printed nothing"


def test_tls_client_recipe_against_the_tls_echo_example(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # cryptography on 3.8, under trustme
        trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    folder = str(tmp_path)
    ca_file, cert_file, key_file = (os.path.join(folder, n) for n in ("ca.pem", "cert.pem", "key.pem"))
    ca.cert_pem.write_to_path(ca_file)
    cert.cert_chain_pems[0].write_to_path(cert_file)
    cert.private_key_pem.write_to_path(key_file)
    server = subprocess.Popen(
        run(TLS_SERVER, "--certfile", cert_file, "--keyfile", key_file),
        env=child_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert server.stdout is not None
        ready = server.stdout.readline()
        assert ready.startswith("listening on 127.0.0.1:"), ready
        port = ready.strip().rsplit(":", 1)[1]
        out = subprocess.run(
            run(os.path.join(RECIPES, "tls_client.py"), "--port", port, "--cafile", ca_file, "from the docs"),
            env=child_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=DEADLINE,
            cwd=ROOT,
        )
        assert out.returncode == 0, f"{out.stdout}\n{out.stderr}"
        assert "TLS established: TLSv1." in out.stdout
        assert "echoed: from the docs" in out.stdout
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=DEADLINE)
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
            for stream in (server.stdout, server.stderr):
                if stream is not None:
                    stream.close()
    assert server.returncode == 0
