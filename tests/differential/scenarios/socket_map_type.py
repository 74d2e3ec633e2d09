"""The default socket_map: a dict (isinstance), empty at start; its exact type is a dict
subclass in asyncore-ng (documented in docs/compat.md).
Issue: none (documented difference: socket_map type)."""

import asyncore

from _trace import log

log("isinstance dict:", isinstance(asyncore.socket_map, dict), "empty:", not asyncore.socket_map)
log("type is dict:", type(asyncore.socket_map) is dict)
