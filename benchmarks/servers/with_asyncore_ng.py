"""Run a benchmark server on asyncore-ng: ``python with_asyncore_ng.py SCRIPT [ARGS...]``.

``asyncore_ng.install()`` puts our modules into ``sys.modules`` as ``asyncore`` and ``asynchat``
(needed on 3.8-3.11, where the stdlib's own modules would otherwise win), then SCRIPT runs as
``__main__`` with ARGS, its ``import asyncore`` resolving to asyncore-ng.
"""

import os
import runpy
import sys


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit("usage: with_asyncore_ng.py SCRIPT [ARGS...]")
    import asyncore_ng

    asyncore_ng.install()
    script = os.path.abspath(sys.argv[1])
    sys.argv = [script, *sys.argv[2:]]
    sys.path[0] = os.path.dirname(script)
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
