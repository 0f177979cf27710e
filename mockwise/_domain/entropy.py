"""Random bytes from the operating system, drawn a page at a time.

Every request takes 16 random bytes for its trace id and every grant 16 more for each token it
mints: one `getrandom` system call each was 4-7 % of a token request. The bytes come from the
same source (`os.urandom`), read 4 KiB at a time into a pool per thread (no lock, and no two
threads can hand out the same bytes); a forked child starts with an empty pool, so it never
repeats its parent's bytes.
"""

from __future__ import annotations

import os
import threading

POOL_BYTES = 4096


class _Pool(threading.local):
    def __init__(self) -> None:
        self.data = b""
        self.at = 0


_POOL = _Pool()


def random_bytes(n: int) -> bytes:
    """`n` bytes from `os.urandom`, each handed out once."""
    pool = _POOL
    at = pool.at
    end = at + n
    if end > len(pool.data):
        pool.data, at, end = os.urandom(max(POOL_BYTES, n)), 0, n
    pool.at = end
    return pool.data[at:end]


def _forget() -> None:
    _POOL.data, _POOL.at = b"", 0


os.register_at_fork(after_in_child=_forget)
