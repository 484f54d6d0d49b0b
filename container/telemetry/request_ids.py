"""Request ids: 32 hex digits, unique across the workers and restarts of a server, without a
system call per request.

uuid4() reads os.urandom on every call, and that read lets go of the GIL: in a worker whose model
thread is busy, getting the GIL back cost more than the rest of a small request. So each process
draws 8 random bytes once (again after a fork, so sibling workers differ) and counts from there.
"""

from __future__ import annotations

import itertools
import os

_prefix = ""
_counter = itertools.count()


def _reseed() -> None:
    global _prefix, _counter
    _prefix = os.urandom(8).hex()
    _counter = itertools.count()


def new_request_id() -> str:
    return f"{_prefix}{next(_counter):016x}"


_reseed()
os.register_at_fork(after_in_child=_reseed)
