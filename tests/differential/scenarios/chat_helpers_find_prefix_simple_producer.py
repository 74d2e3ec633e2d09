"""asynchat.find_prefix_at_end over assorted cases; simple_producer.more() slicing (default
and small buffer sizes, empty data, bytearray data); the .data attribute as it goes.
Issue: none (documented asynchat API)."""

import asynchat

from _trace import attempt, log

for hay, needle in [
    (b"qwerty\r", b"\r\n"),
    (b"qwertydkjf", b"\r\n"),
    (b"", b"\r\n"),
    (b"abc", b"c"),
    (b"ab", b"abc"),
    (b"xxab", b"abcd"),
    (b"aaa", b"aab"),
    (b"END!", b"END!!"),
]:
    attempt(f"find_prefix_at_end({hay!r}, {needle!r})", asynchat.find_prefix_at_end, hay, needle)

for data, size in [(b"0123456789", 4), (b"short", 512), (b"", 3), (bytearray(b"bytearray!"), 3)]:
    p = asynchat.simple_producer(data, buffer_size=size)
    out = []
    for _ in range(6):
        chunk = p.more()
        out.append(bytes(chunk))
        log(f"  size {size}: more -> {bytes(chunk)!r}, data now {bytes(p.data)!r}")
        if not chunk:
            break
    log(f"simple_producer({data!r}, {size}): {out}")
p = asynchat.simple_producer(b"x" * 1000)
log("default buffer_size chunk:", len(p.more()), "then", len(p.more()))
