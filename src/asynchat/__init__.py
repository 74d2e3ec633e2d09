"""asynchat, as the Python documentation describes it, on asyncore-ng's engine.

This module is the only place where asynchat's names and spellings live; the engine is
``asyncore_ng.chat`` (with ``asyncore_ng.framing`` and ``asyncore_ng.producers``).
``async_chat`` derives from this package's ``asyncore.dispatcher``, so ``isinstance`` checks
against it hold and ``repr()`` reads ``<asynchat.async_chat ...>``.

On Python 3.8-3.11 the standard library's asynchat is found first: call
``asyncore_ng.install()`` or run the program with ``python -m asyncore_ng run``.  Importing this
module puts asyncore-ng's ``asyncore`` in ``sys.modules`` too, since ``async_chat`` must be
built on it.  Deliberate differences from the stdlib are listed in docs/compat.md.
"""

from __future__ import annotations

from collections import deque

from asyncore_ng._install import load_shim

# Ours, even where the stdlib's asyncore would win the import (3.8-3.11) or was imported first.
load_shim("asyncore")

import asyncore  # noqa: E402  (must follow load_shim)

from asyncore_ng.chat import AsyncChat  # noqa: E402
from asyncore_ng.framing import find_prefix_at_end  # noqa: E402
from asyncore_ng.producers import Fifo, SimpleProducer  # noqa: E402

#: Marks this module as asyncore-ng's (``asyncore_ng.install()`` and the runner check it).
__asyncore_ng__ = True

find_prefix_at_end.__module__ = __name__  # (asynchat's name, as in a pickle or a traceback)


class async_chat(AsyncChat, asyncore.dispatcher):
    """asynchat's async_chat (see ``asyncore_ng.chat.AsyncChat`` for the extras)."""


class simple_producer(SimpleProducer):
    """A producer over one bytes object, ``buffer_size`` bytes per ``more()``."""


class fifo(Fifo):
    """The FIFO removed from asynchat in Python 3.6; deprecated, use ``collections.deque``."""


__all__ = [
    "async_chat",
    "asyncore",
    "deque",
    "fifo",
    "find_prefix_at_end",
    "simple_producer",
]
