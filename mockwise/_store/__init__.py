"""The state store: a sandbox's tenants kept in SQLite across restarts and crashes (what `mockwise
serve` uses), in modules along its seams:

    sqlite.py    the store: open, restore, group commit, collection, checkpoints (`SqliteStore`)
    ledger.py    one tenant's marks waiting for the next write, and its lazy loading
    records.py   rows and parts as data, and back, types checked
    lock.py      the state directory: ours alone, one server at a time (`StateLock`)
    migrate.py   older schemas brought up to date; pickles.py reads schema 1's without running them
"""

from mockwise._store.lock import (
    LOCK_FILE,
    STATE_FILE,
    StateError,
    StateLock,
    UnsafeState,
    check_directory,
    forget,
    remove_state,
)
from mockwise._store.migrate import SCHEMA_VERSION
from mockwise._store.sqlite import SqliteStore

__all__ = [
    "LOCK_FILE",
    "SCHEMA_VERSION",
    "STATE_FILE",
    "SqliteStore",
    "StateError",
    "StateLock",
    "UnsafeState",
    "check_directory",
    "forget",
    "remove_state",
]
