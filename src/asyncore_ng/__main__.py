"""``python -m asyncore_ng``: the ``asyncore-ng`` command (see ``asyncore_ng.cli``).

``python -m asyncore_ng run script.py args...`` runs a legacy asyncore/asynchat program on
asyncore-ng, unchanged, on any Python 3.8+; ``python -m asyncore_ng status`` says what
``import asyncore`` would find.
"""

from __future__ import annotations

import sys

from .cli import module_main

if __name__ == "__main__":
    sys.exit(module_main())
