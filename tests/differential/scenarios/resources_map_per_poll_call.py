"""The IRC-client shape, with the cyclic collector off: ``asyncore.poll(timeout,
map={sock: self})`` with a new dict on every call. Descriptors do not grow with the calls,
the channel is served, and once it is closed none of ours is left."""

import asyncore
import gc

from _trace import log, open_fds, pair

gc.disable()


class Client(asyncore.dispatcher):
    got = b""

    def handle_read(self):
        self.got += self.recv(100)

    def writable(self):
        return False


for poll in (asyncore.poll, asyncore.poll2):
    before = open_fds()
    a, b = pair()
    own = {}
    client = Client(a, own)
    # (the IRC client keys by socket; under poll semantics the stdlib served only numbers)
    key = client.socket if poll is asyncore.poll else client.socket.fileno()
    poll(0, {key: client})
    after_first = open_fds()
    for i in range(2000):
        if i == 1000:
            b.send(b"hello")
        poll(0, {key: client})
    log(poll.__name__, "grew over 2000 calls:", open_fds() - after_first, "got", client.got)
    client.close()
    b.close()
    log(poll.__name__, "left open after close:", open_fds() - before)
