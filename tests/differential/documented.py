"""The DOCUMENTED differences: the only ones the differential test forgives.

Each entry names a scenario, quotes the text of docs/compat.md that documents the difference
(the test checks that the text is there), and gives the exact rewrite applied to both
normalized traces: exact replacements of whole lines. Lines not listed are compared
as they are, so anything else that differs still fails. Keep this table small: a difference
belongs here only if compat.md says it is deliberate. When unsure, it is a bug: leave the
scenario failing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Dict, Tuple

COMPAT_MD = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "docs", "compat.md"
)


@dataclass(frozen=True)
class Documented:
    #: Text that must appear in docs/compat.md (a heading or part of a table row).
    compat_text: str
    #: Exact replacements ``(old, new)`` of whole lines (``old`` may span several lines),
    #: applied in order to both traces: the stdlib's lines and ours are mapped to the same
    #: text, so only these lines may differ. ``new`` may be empty (the lines are dropped).
    replacements: Tuple[Tuple[str, str], ...] = ()

    def apply(self, text: str) -> str:
        t = "\n" + text + "\n"
        for old, new in self.replacements:
            t = t.replace("\n" + old + "\n", "\n" + new + "\n" if new else "\n")
        return t[1:-1]


_CLOSED_WARNING = (
    "LOGGING asyncore_ng WARNING: closing <__main__.Chan connected '' at 0xADDR>: "
    "[Errno 9] its socket was closed without close()"
)

DOCUMENTED: Dict[str, Documented] = {
    # The stdlib fails the whole select() pass with EBADF; we close just that channel, with
    # one warning, within a second. (Poll semantics: both call handle_close; ours warns.)
    "socket_closed_behind_the_loop": Documented(
        "a descriptor closed behind the loop's back makes `select()` raise `EBADF` out of `loop()`",
        (
            ("use_poll=False: loop raised OSError: [Errno 9] Bad file descriptor", "<closed by the loop>"),
            (
                f"{_CLOSED_WARNING}\nhandle_close\nuse_poll=False: loop returned; in map False",
                "<closed by the loop>",
            ),
            (
                f"{_CLOSED_WARNING}\nhandle_close\nuse_poll=True: loop returned; in map False",
                "handle_close\nuse_poll=True: loop returned; in map False",
            ),
        ),
    ),
    # The library's state attributes are properties (assignments tell the loop).
    "dispatcher_attributes": Documented(
        "| `connected` and `accepting` are plain class attributes | properties",
        (
            ("class: False False False False None False ['warning']", "<class attributes>"),
            (
                "class: <property object at 0xADDR> <property object at 0xADDR> "
                "False False None False ['warning']",
                "<class attributes>",
            ),
        ),
    ),
    # With nothing queued, send() offers the socket all of the data, not 64 KiB.
    "dws_large_send": Documented(
        "when nothing is queued, `send()` offers all of the data to the socket",
        (
            ("send() handed the socket: exactly 65536 bytes", "<first send>"),
            ("send() handed the socket: more than 65536 bytes", "<first send>"),
        ),
    ),
    # At end of input the default handle_close delivers what is queued, then closes.
    "eof_with_output_queued_default_close": Documented(
        "the default `handle_close` stops reading, sends what is queued, then closes",
        (
            ("Dws: peer got b''", "Dws: <reply dropped (stdlib) or delivered (ours)>"),
            ("Dws: peer got b'queued reply'", "Dws: <reply dropped (stdlib) or delivered (ours)>"),
            ("Chat: peer got b''", "Chat: <reply dropped (stdlib) or delivered (ours)>"),
            ("Chat: peer got b'queued reply'", "Chat: <reply dropped (stdlib) or delivered (ours)>"),
        ),
    ),
    "listen_without_backlog": Documented(
        "`dispatcher.listen(num)` requires `num`",
        (
            (
                "listen(): raised TypeError: "
                "dispatcher.listen() missing 1 required positional argument: 'num'",
                "<listen() without num>",
            ),
            ("listen(): listening, accepting True", "<listen() without num>"),
        ),
    ),
    "socket_map_type": Documented(
        "`isinstance(socket_map, dict)` holds, `type(socket_map) is dict` does not",
        (
            ("type is dict: True", "<type of socket_map>"),
            ("type is dict: False", "<type of socket_map>"),
        ),
    ),
}


def apply(name: str, text: str) -> str:
    entry = DOCUMENTED.get(name)
    return entry.apply(text) if entry is not None else text
