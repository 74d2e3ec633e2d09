"""``python -m asyncore_ng run SCRIPT [ARGS...]``: run a legacy asyncore/asynchat program on
asyncore-ng, unchanged, on any Python 3.8+ (on 3.8-3.11 the stdlib's modules would otherwise
be imported). ``python -m asyncore_ng status`` says what ``import asyncore`` would find."""

from __future__ import annotations

import argparse
import runpy
import sys
from typing import List, Optional

from ._install import install, shim_status


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m asyncore_ng")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a script with asyncore-ng installed as asyncore/asynchat")
    run.add_argument("script")
    run.add_argument("args", nargs=argparse.REMAINDER)
    sub.add_parser("status", help="what `import asyncore` / `import asynchat` resolve to")
    ns = parser.parse_args(argv)
    if ns.command == "status":
        for name, where in shim_status().items():
            print(f"{name}: {where}")
        return 0
    install()
    sys.argv = [ns.script, *ns.args]
    runpy.run_path(ns.script, run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())
