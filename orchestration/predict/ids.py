"""Ids for predict outputs and unnamed inputs: 32 hex characters, unique, and cheap.

uuid4 reads 16 random bytes from the kernel for every id, which showed in the router's
profile; a random per-process prefix and a counter are as unique for ids that are only
ever compared, and a forked child draws its own prefix.
"""

from __future__ import annotations

import itertools
import os

_prefix = ""
_counter = itertools.count()


def _reseed() -> None:
    global _prefix, _counter
    _prefix = os.urandom(8).hex()
    _counter = itertools.count(int.from_bytes(os.urandom(4)))


_reseed()
os.register_at_fork(after_in_child=_reseed)


def new_id() -> str:
    return f"{_prefix}{next(_counter) & 0xFFFFFFFFFFFFFFFF:016x}"
