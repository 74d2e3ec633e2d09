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
from typing import Dict, Optional, Tuple

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
    "its socket was closed without close()"
)

_FLUSH_AT_END_OF_INPUT = (
    "the default `handle_close`, when `recv` calls it at end of input, stops reading, sends what is queued"
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
    # A negative count assigned to the terminator attribute (set_terminator refuses it): the
    # stdlib misframed the input; we raise, so handle_error closes the channel.
    "chat_odd_terminators_and_reads": Documented(
        "a negative byte count set by hand (`self.terminator = -1`) misframes",
        (
            ("  found_terminator\n  collected [b'some inpu', b't\\n'] in map True", "<negative count>"),
            (
                "  handle_error: ValueError: a byte-count terminator cannot be negative: -2\n"
                "  collected [] in map False",
                "<negative count>",
            ),
        ),
    ),
    # A spent producer whose len() is 0: the stdlib deleted the entry after it as well.
    "chat_producer_len_zero": Documented(
        "when that `more()` returns `b\"\"`, the entry *after* the producer is deleted too",
        (
            ("spent: peer got b''", "<entry after the producer>"),
            ("spent: peer got b'|kept'", "<entry after the producer>"),
        ),
    ),
    "dispatcher_attributes": Documented(
        "| `connected`, `accepting` and `connecting` are plain class attributes | properties",
        (
            ("class: False False False False None False ['warning']", "<class attributes>"),
            (
                "class: <asyncore_ng.dispatcher.AnnouncedState object at 0xADDR> "
                "<asyncore_ng.dispatcher.AnnouncedState object at 0xADDR> "
                "<asyncore_ng.dispatcher.AnnouncedState object at 0xADDR> False None False ['warning']",
                "<class attributes>",
            ),
        ),
    ),
    # At end of input the default handle_close delivers what is queued, then closes.
    "eof_with_output_queued_default_close": Documented(
        _FLUSH_AT_END_OF_INPUT,
        (
            ("Dws: peer got b''", "Dws: <reply dropped (stdlib) or delivered (ours)>"),
            ("Dws: peer got b'queued reply'", "Dws: <reply dropped (stdlib) or delivered (ours)>"),
            ("Chat: peer got b''", "Chat: <reply dropped (stdlib) or delivered (ours)>"),
            ("Chat: peer got b'queued reply'", "Chat: <reply dropped (stdlib) or delivered (ours)>"),
        ),
    ),
    # Waits are clamped to a day: timeouts too large for the system call work.
    "timeout_huge": Documented(
        "a timeout too large for the system call (`loop(timeout=3e6, use_poll=True)`, `1e12`",
        (
            (
                "use_poll=False timeout=1000000000000.0: raised OverflowError: <timestamp overflow>",
                "<select, 1e12 s>",
            ),
            ("  handle_read b'd'\nuse_poll=False timeout=1000000000000.0: returned", "<select, 1e12 s>"),
            ("use_poll=True timeout=3000000.0: raised OverflowError: timeout is too large", "<poll, 3e6 s>"),
            ("  handle_read b'e'\nuse_poll=True timeout=3000000.0: returned", "<poll, 3e6 s>"),
            ("use_poll=True timeout=2592000: raised OverflowError: timeout is too large", "<poll, 30 days>"),
            ("  handle_read b'f'\nuse_poll=True timeout=2592000: returned", "<poll, 30 days>"),
            (
                "use_poll=True timeout=2147483648: raised OverflowError: timeout is too large",
                "<poll, 2**31 s>",
            ),
            ("  handle_read b'g'\nuse_poll=True timeout=2147483648: returned", "<poll, 2**31 s>"),
            (
                "use_poll=True timeout=1000000000000.0: raised OverflowError: <timestamp overflow>",
                "<poll, 1e12 s>",
            ),
            ("  handle_read b'h'\nuse_poll=True timeout=1000000000000.0: returned", "<poll, 1e12 s>"),
        ),
    ),
    # A socket made by create_socket() has no events until connect()/listen() (issue #14).
    "unconnected_channel_looped_once": Documented(
        "it has no events until `connect()` or `listen()` returns",
        (
            (
                "  handle_read\n  handle_write\nuse_poll=False: in map True",
                "<fresh socket, select semantics>",
            ),
            ("use_poll=False: in map True", "<fresh socket, select semantics>"),
            ("  handle_write\n  handle_close\nuse_poll=True: in map False", "<fresh socket, poll semantics>"),
            ("use_poll=True: in map True", "<fresh socket, poll semantics>"),
        ),
    ),
    # A map keyed by socket objects works under poll semantics too (the stdlib ignored it).
    "map_keyed_by_socket": Documented(
        "a map keyed by socket objects instead of descriptor numbers works under select semantics",
        (
            ("handle_read b'data'\nuse_poll=True: loop returned", "<socket-keyed map, poll semantics>"),
            ("use_poll=True: loop returned", "<socket-keyed map, poll semantics>"),
        ),
    ),
    # A predicate closing a later channel: the stdlib's select() raised EBADF; ours goes on.
    "tick_readable_closes_other_select": Documented(
        "the closed channel is still asked, once, as in the stdlib, but not polled: no `EBADF`",
        (("loop raised OSError: [Errno 9] Bad file descriptor", ""),),
    ),
    # The same flush at end of input, seen from a subclass with methods named like our extras
    # (none of which the library calls): the stdlib has closed, ours is still sending.
    "collide_extra_names_as_methods": Documented(
        _FLUSH_AT_END_OF_INPUT,
        (
            ("map empty: True", "<closed (stdlib) or still flushing the reply (ours)>"),
            ("map empty: False", "<closed (stdlib) or still flushing the reply (ours)>"),
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


_LIBUV_PIPE = "libuv opens a process-wide pipe (two descriptors) with the first event loop"

#: Differences of one ``ASYNCORE_NG_BACKEND`` only (the event-loop backends), applied after
#: DOCUMENTED when the scenario runs on that backend.
DOCUMENTED_BY_BACKEND: Dict[str, Dict[str, Documented]] = {
    # uvloop's libuv keeps a pipe for its signal handling open from the first loop on; the
    # scenarios count descriptors around the first loop of the process.
    "uvloop": {
        "resources_loop_until_empty": Documented(
            _LIBUV_PIPE,
            (
                (
                    "plain dict, use_poll=False: map empty True, descriptors left open: 2",
                    "plain dict, use_poll=False: map empty True, descriptors left open: 0",
                ),
            ),
        ),
        "resources_throwaway_maps": Documented(
            _LIBUV_PIPE, (("descriptors left open: 2", "descriptors left open: 0"),)
        ),
        "resources_map_per_poll_call": Documented(
            _LIBUV_PIPE, (("poll left open after close: 2", "poll left open after close: 0"),)
        ),
    },
}


def apply(name: str, text: str, backend: Optional[str] = None) -> str:
    entry = DOCUMENTED.get(name)
    if entry is not None:
        text = entry.apply(text)
    extra = DOCUMENTED_BY_BACKEND.get(backend or "", {}).get(name)
    return extra.apply(text) if extra is not None else text
