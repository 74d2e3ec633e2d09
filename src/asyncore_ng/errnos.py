"""Named groups of errno values, in one place.

Every decision the library takes on an ``OSError`` is a membership test against one of these
sets, so the policy can be read (and changed) here rather than hunted for in handlers.
"""

from __future__ import annotations

import errno

#: A peer or the kernel ended the connection: the channel's ``handle_close`` runs, no traceback.
#: (The stdlib's ``_DISCONNECTED`` set, unchanged: code that catches these expects exactly them.)
DISCONNECTED: frozenset[int] = frozenset(
    {
        errno.ECONNRESET,
        errno.ENOTCONN,
        errno.ESHUTDOWN,
        errno.ECONNABORTED,
        errno.EPIPE,
        errno.EBADF,
    }
)

#: ``connect_ex`` results meaning "in progress, readiness will tell".
CONNECT_PENDING: frozenset[int] = frozenset({errno.EINPROGRESS, errno.EALREADY, errno.EWOULDBLOCK})

#: ``connect_ex`` results meaning "connected already".
CONNECT_DONE: frozenset[int] = frozenset({0, errno.EISCONN})

#: ``accept`` failures that only mean "nothing to accept now" (the client gave up, or a spurious
#: wake-up): ``dispatcher.accept`` returns ``None`` for these, as the stdlib does.
ACCEPT_NOTHING: frozenset[int] = frozenset({errno.EWOULDBLOCK, errno.ECONNABORTED, errno.EAGAIN})

#: ``getpeername`` failures of a socket handed to ``dispatcher(sock)`` that is simply not
#: connected (yet): the channel starts with ``connected = False`` instead of failing.
NOT_CONNECTED_YET: frozenset[int] = frozenset({errno.ENOTCONN, errno.EINVAL})

#: Failures of ``socket.close`` that ``dispatcher.close`` ignores: the socket is gone either way.
CLOSE_IGNORED: frozenset[int] = frozenset({errno.ENOTCONN, errno.EBADF})

#: Running out of descriptors: retrying at once cannot succeed, so it must not be retried in a
#: tight loop (see the listener back-off in the reliability notes).
DESCRIPTOR_EXHAUSTION: frozenset[int] = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
