"""async_chat.push() of things that are not bytes-like (str, int, None): the TypeError and
its message (the stdlib passes a tuple of format and type to TypeError).
Issue: none (documented asynchat behaviour; message text)."""

import asynchat

from _trace import exc, log

c = asynchat.async_chat(map={})
for bad in ("text", 5, None):
    try:
        c.push(bad)
        log(f"push({bad!r}) accepted")
    except Exception as e:
        log(f"push({bad!r}) raised {exc(e)}")
