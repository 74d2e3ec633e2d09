#!/usr/bin/env bash
# Sets up .venv (python3, or PYTHON=...) with asyncore-ng installed from this checkout, then runs
# the asyncore documentation's echo server, unchanged (plain `import asyncore`), on asyncore-ng:
# listening on 127.0.0.1:${PORT:-8007} until Ctrl-C. Try it: `nc 127.0.0.1 8007`.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check .
exec .venv/bin/python -m asyncore_ng run examples/echo_server.py 127.0.0.1 "${PORT:-8007}"
