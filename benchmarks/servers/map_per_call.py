"""A map per call: ``asyncore.poll(timeout, {sock: channel})`` with a new dict each time.

The shape of client libraries that drive one connection from their own loop (an IRC client's
``process_once()`` does exactly this): every call passes a fresh one-channel map. Each call here
finds one byte waiting (written by the peer end of a socket pair just before) and its
``handle_read`` takes it: one event per call.

    python map_per_call.py --calls N [--poll2] [--same-map]

``--same-map`` passes one map to every call instead (``while running: asyncore.poll(t, map)``,
the other common shape of a program that runs its own loop).

Run it as it is for the stdlib modules, or through ``with_asyncore_ng.py`` for asyncore-ng.
"""

import argparse
import socket
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import asyncore


class Reader(asyncore.dispatcher):
    got = 0

    def handle_read(self) -> None:
        self.got += len(self.recv(64))

    def writable(self) -> bool:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, required=True)
    parser.add_argument("--poll2", action="store_true", help="asyncore.poll2 rather than poll")
    parser.add_argument("--same-map", action="store_true", help="one map for every call")
    args = parser.parse_args()
    ours, peer = socket.socketpair()
    channel = Reader(ours, map={})
    poll = asyncore.poll2 if args.poll2 else asyncore.poll
    key = ours.fileno()
    if args.same_map:
        the_map = {key: channel}
        for _ in range(args.calls):
            peer.send(b"x")
            poll(0.0, the_map)
    else:
        for _ in range(args.calls):
            peer.send(b"x")
            poll(0.0, {key: channel})
    if channel.got != args.calls:
        raise SystemExit(f"read {channel.got} bytes of {args.calls}")


if __name__ == "__main__":
    main()
