"""Exceptions shared by every layer (the reactor included, so it has no import of its own)."""

from __future__ import annotations


class ExitNow(Exception):
    """Raise from any handler to leave ``loop()`` (or ``Reactor.run()``) at once.

    The error boundaries around user code let it through, with ``KeyboardInterrupt`` and
    ``SystemExit``; every other exception goes to ``handle_error`` or the reactor's handler.
    """


#: Exceptions that no error boundary swallows.
PASSTHROUGH: tuple[type[BaseException], ...] = (ExitNow, KeyboardInterrupt, SystemExit)
