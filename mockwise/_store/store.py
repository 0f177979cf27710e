"""State in SQLite: what `mockwise serve` keeps in its state directory (`.mockwise/state.db`), so a
restart, or a crash, loses nothing the server answered.

What is stored how (schema version `SCHEMA_VERSION`, in `PRAGMA user_version`):

    tenants     one row per tenant (its id, and counters a reset rewinds)
    parts       the small, rarely-changing state, one pickled snapshot per tenant and part
                (`Tenant.stored_parts`: settings, clock, directory, linking, SCA, JOSE keys,
                certificates, faults, journal capacity, the seeded snapshot), saved whole when marked
    tokens      one row per token: the SHA-256 of its value (never the value) and its state, in
                the order they were minted; links and authorization codes row by row too
    token_keys  hash -> row, for the tokens whose value does not carry their row (chosen values)
    journal     the entries of each write in one row; the newest `capacity` are kept per tenant
    meta        the key of the sandbox's secret digests, the journal's field names

Tokens are appended, never inserted by hash: a token the store mints carries its row number in its
value (`mockwise._domain.tokens.uuid_token(row)`: 40 of a UUID's 122 random bits, masked), so the
store finds it by row and checks the hash. An index of random hashes would write a random page per
token; `token_keys` holds only the few tokens with chosen values (seeded personal tokens).

Durability: the domain marks every change on its tenant's ledger (`mockwise._domain.store`); the
store writes what was marked in one transaction per event-loop turn (group commit), and the HTTP
edge holds each response until the changes it may have seen are written. The database is in WAL
mode with `synchronous=NORMAL`: a commit is a write to the WAL file, which the operating system
keeps once the call returns, so a killed process (`kill -9`) loses nothing committed; only a power
cut or a kernel crash could lose the last commits (`synchronous=FULL` would fsync every commit, a
cost paid per turn that a sandbox does not need). Checkpoints, which do fsync, run on a background
thread so the event loop never waits for the disk.

Tokens stay on disk: a restarted server holds none in memory and fetches each the first time it is
presented (with its lineage), so start-up does not depend on how many are stored. Expired tokens are
collected from the database as from memory (`oauth.expired_token_memory`), in bounded batches, and
freed pages are given back, so the file does not grow without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import itertools
import logging
import os
import pickle
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from operator import attrgetter
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from mockwise._domain.grants import AuthorizationCode, code_row
from mockwise._domain.journal import Entry
from mockwise._domain.model import Secrets
from mockwise._domain.store import Ledger, Restored, load_state
from mockwise._domain.tokens import Link, LinkRow, Token, TokenRow, link_row, row_of

if TYPE_CHECKING:
    from mockwise._domain.sandbox import Sandbox
    from mockwise._domain.tenant import Tenant

log = logging.getLogger("mockwise.state")

SCHEMA_VERSION = 1
STATE_FILE = "state.db"
LOCK_FILE = "serve.lock"
JOURNAL_DELAY = 0.05  # seconds a read's journal entry may wait to be written with others
MAINTENANCE_EVERY = 30.0  # seconds between collections of expired rows
MAINTENANCE_BATCH = 20_000  # rows collected per tenant and round (the loop is not held long)
CHECKPOINT_EVERY = 1.0  # seconds between background checkpoints
WAL_LIMIT = 64 * 1024 * 1024  # bytes the WAL file is cut back to after a checkpoint
RESTORE_ORDER = ("settings", "clock", "directory")  # first: the other parts read them

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE tenants (
    n INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,
    next_link INTEGER NOT NULL DEFAULT 1, next_seq INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE parts (
    tenant INTEGER NOT NULL, name TEXT NOT NULL, data BLOB, PRIMARY KEY (tenant, name)
) WITHOUT ROWID;
CREATE TABLE tokens (
    n INTEGER PRIMARY KEY, key BLOB NOT NULL, tenant INTEGER NOT NULL, kind TEXT NOT NULL,
    issued_at REAL NOT NULL, expires_at REAL NOT NULL, client_id TEXT, user_id INTEGER,
    profile_id INTEGER, grant_type TEXT, link INTEGER, ended_at REAL, end_reason TEXT, cert TEXT
);
CREATE INDEX tokens_by_expiry ON tokens (tenant, expires_at);
CREATE INDEX tokens_by_link ON tokens (tenant, link) WHERE link > 0;
CREATE TABLE token_keys (key BLOB PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE links (
    tenant INTEGER NOT NULL, id INTEGER NOT NULL, client_id TEXT NOT NULL, user_id INTEGER NOT NULL,
    profile_id INTEGER, grant_type TEXT NOT NULL, refresh BLOB NOT NULL, access BLOB, code BLOB,
    key_profile INTEGER, PRIMARY KEY (tenant, id)
) WITHOUT ROWID;
CREATE INDEX links_by_key ON links (tenant, client_id, user_id, key_profile, id);
CREATE TABLE codes (
    key BLOB PRIMARY KEY, tenant INTEGER NOT NULL, client_id TEXT NOT NULL, redirect_uri TEXT NOT NULL,
    user_id INTEGER NOT NULL, profile_id INTEGER, issued_at REAL NOT NULL, expires_at REAL NOT NULL,
    used_at REAL, link INTEGER
) WITHOUT ROWID;
CREATE INDEX codes_by_tenant ON codes (tenant);
CREATE TABLE journal (
    tenant INTEGER NOT NULL, first INTEGER NOT NULL, last INTEGER NOT NULL, entries BLOB NOT NULL,
    PRIMARY KEY (tenant, first)
) WITHOUT ROWID;
"""

_TOKEN_COLUMNS = (  # in the order of a TokenRow
    "key, kind, issued_at, expires_at, client_id, user_id, profile_id, grant_type, link, ended_at, "
    "end_reason, cert, n"
)
_TOKEN_WIDTH = 14  # columns of a token row, tenant included
_INSERT_TOKEN = f"INSERT OR REPLACE INTO tokens (tenant, {_TOKEN_COLUMNS}) VALUES ({', '.join('?' * 14)})"
_INSERT_CHUNK = 500  # rows per INSERT statement (well below SQLite's limit on parameters)


@functools.lru_cache(maxsize=64)
def _insert_tokens(rows: int) -> str:
    """`INSERT INTO tokens ... VALUES (...), (...)` for `rows` new rows."""
    one = f"({', '.join('?' * _TOKEN_WIDTH)})"
    return f"INSERT INTO tokens (tenant, {_TOKEN_COLUMNS}) VALUES {', '.join([one] * rows)}"


_LINK_COLUMNS = "id, client_id, user_id, profile_id, grant_type, refresh, access, code, key_profile"
_INSERT_LINK = f"INSERT OR REPLACE INTO links (tenant, {_LINK_COLUMNS}) VALUES ({', '.join('?' * 10)})"
_CODE_COLUMNS = "key, client_id, redirect_uri, user_id, profile_id, issued_at, expires_at, used_at, link"
_INSERT_CODE = f"INSERT OR REPLACE INTO codes (tenant, {_CODE_COLUMNS}) VALUES ({', '.join('?' * 10)})"

ENTRY_FIELDS = tuple(f.name for f in fields(Entry))
_ENTRY_NAMES = frozenset(ENTRY_FIELDS)
_entry_values = attrgetter(*ENTRY_FIELDS)


class StateError(RuntimeError):
    """The state directory cannot be used as it is. The message is one line: what is wrong, with
    which file, and what to do."""


# The state directory's lock: one server per state directory ----------------------------------------


class StateLock:
    """An exclusive lock on a state directory (`serve.lock`), held while the process lives (the
    operating system lets go of it when the process dies, even by `kill -9`)."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / LOCK_FILE
        self._file: IO[str] | None = None

    def acquire(self) -> StateLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held until release()
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no advisory locks; one server is trusted
            self._file = handle
            return self
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise StateError(
                f"{self.path.parent} is in use by another mockwise serve ({holder}): stop it, or give this "
                "one its own --state-dir"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}\n")
        handle.flush()
        self._file = handle
        return self

    def release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    @staticmethod
    def held(directory: Path) -> bool:
        """Whether a running server holds `directory`."""
        try:
            StateLock(directory).acquire().release()
        except StateError:
            return True
        return False


def forget(directory: Path) -> bool:
    """Delete the state database of a stopped server (certificates and keys stay); whether there
    was one. StateError while a server holds the directory."""
    lock = StateLock(directory).acquire()
    try:
        return remove_state(directory)
    finally:
        lock.release()


def remove_state(directory: Path) -> bool:
    """Delete `directory`'s state database (the caller holds its `StateLock`); whether there was one."""
    found = False
    for suffix in ("", "-wal", "-shm"):
        path = directory / (STATE_FILE + suffix)
        if path.exists():
            path.unlink()
            found = True
    return found


# Pickles of our own state only ---------------------------------------------------------------------


def _dumps(value: Any) -> bytes:
    return pickle.dumps(value, pickle.HIGHEST_PROTOCOL)


def _dumps_flat(value: Any) -> bytes:
    """`_dumps` for plain values without shared references (journal entries): no memo, faster."""
    out = io.BytesIO()
    pickler = pickle.Pickler(out, pickle.HIGHEST_PROTOCOL)
    pickler.fast = True
    pickler.dump(value)
    return out.getvalue()


# A tenant's ledger ----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Batch:
    """What one tenant changed since its last write."""

    new: bool = False
    rewrite: set[str] = field(default_factory=set)
    added: dict[str, Token] = field(default_factory=dict)  # never written
    tokens: dict[str, Token] = field(default_factory=dict)  # written before, changed since
    token_drops: set[int] = field(default_factory=set)  # rows
    codes: dict[str, AuthorizationCode] = field(default_factory=dict)
    code_drops: set[str] = field(default_factory=set)
    links: dict[int, Link] = field(default_factory=dict)
    entries: list[Entry] = field(default_factory=list)
    parts: set[str] = field(default_factory=set)


class SqliteLedger(Ledger):
    """One tenant's marks, waiting for the next write; and its lazy loading from the database."""

    __slots__ = ("_batch", "_lock", "closed", "id", "n", "ready", "store", "tenant", "untrimmed")

    @property
    def lazy(self) -> bool:
        """Once the tenant is whole: while it is being made, everything it has is in memory."""
        return self.ready and not self.closed

    def __init__(self, store: SqliteStore, n: int, tenant_id: str) -> None:
        self.store = store
        self.n = n
        self.id = tenant_id
        self.tenant: Tenant | None = None
        self.ready = False  # written only once the tenant is whole (seeded, or restored)
        self.closed = False
        self.untrimmed = 0  # journal entries written since the journal was last cut to its capacity
        self._lock = threading.Lock()
        self._batch = _Batch()

    def _mark(self) -> _Batch:
        self.store._dirty[self.n] = self
        return self._batch

    # Marks (see `Ledger`) -------------------------------------------------------------------------

    def token(self, token: Token, new: bool = False) -> None:
        with self._lock:
            batch = self._mark()
            if new:
                batch.added[token.key] = token
            elif token.key not in batch.added:
                batch.tokens[token.key] = token
        self.store._pending = True

    def drop_token(self, token: Token) -> None:
        with self._lock:
            batch = self._mark()
            if batch.added.pop(token.key, None) is None:
                batch.tokens.pop(token.key, None)
                if token.row is not None:
                    batch.token_drops.add(token.row)
        self.store._pending = True

    def new_row(self) -> int | None:
        return next(self.store._rows)

    def code(self, code: AuthorizationCode) -> None:
        with self._lock:
            batch = self._mark()
            batch.codes[code.key] = code
            batch.code_drops.discard(code.key)
        self.store._pending = True

    def drop_code(self, key: str) -> None:
        with self._lock:
            batch = self._mark()
            batch.codes.pop(key, None)
            batch.code_drops.add(key)
        self.store._pending = True

    def link(self, link: Link) -> None:
        with self._lock:
            self._mark().links[link.id] = link
        self.store._pending = True

    def entry(self, entry: Entry) -> None:
        with self._lock:
            self._mark().entries.append(entry)

    def changed(self, part: str) -> None:
        with self._lock:
            self._mark().parts.add(part)
        self.store._pending = True

    def rewritten(self, part: str) -> None:
        with self._lock:
            batch = self._mark()
            batch.rewrite.add(part)
            if part == "tokens":
                batch.added.clear()
                batch.tokens.clear()
                batch.token_drops.clear()
                batch.codes.clear()
                batch.code_drops.clear()
                batch.links.clear()
            elif part == "journal":
                batch.entries.clear()
            else:
                raise ValueError(f"{part!r} is not kept row by row")
        self.store._pending = True

    def drain(self) -> _Batch:
        with self._lock:
            batch, self._batch = self._batch, _Batch()
            return batch

    def put_back(self, batch: _Batch) -> None:
        """A write failed: its changes wait for the next one (what was marked since wins)."""
        with self._lock:
            newer = self._batch
            batch.new |= newer.new
            batch.rewrite |= newer.rewrite
            if "tokens" in newer.rewrite:
                batch.added, batch.tokens, batch.token_drops = newer.added, newer.tokens, newer.token_drops
                batch.codes, batch.code_drops, batch.links = newer.codes, newer.code_drops, newer.links
            else:
                batch.added.update(newer.added)
                batch.tokens.update({k: t for k, t in newer.tokens.items() if k not in batch.added})
                batch.token_drops |= newer.token_drops
                batch.codes.update(newer.codes)
                batch.code_drops = (batch.code_drops - newer.codes.keys()) | newer.code_drops
                batch.links.update(newer.links)
            batch.entries = newer.entries if "journal" in newer.rewrite else batch.entries + newer.entries
            batch.parts |= newer.parts
            self._batch = batch
            self.store._dirty[self.n] = self

    # Lazy loading (see `Ledger`) ------------------------------------------------------------------

    def fetch_token(self, key: str, value: str | None = None) -> TokenRow | None:
        with self._lock:
            if "tokens" in self._batch.rewrite:
                return None
            drops = set(self._batch.token_drops)
        row = self.store._find(key, value)
        if row is None or row[1] != self.n or row[0][-1] in drops:
            return None
        return row[0]

    def fetch_link(self, link_id: int) -> tuple[LinkRow, list[TokenRow]] | None:
        with self._lock:
            if "tokens" in self._batch.rewrite:
                return None
            drops = set(self._batch.token_drops)
        store = self.store
        row = store._one(f"SELECT {_LINK_COLUMNS} FROM links WHERE tenant = ? AND id = ?", (self.n, link_id))
        if row is None:
            return None
        rows = store._all(
            f"SELECT {_TOKEN_COLUMNS} FROM tokens WHERE tenant = ? AND link = ? AND link > 0 ORDER BY n",
            (self.n, link_id),
        )
        lineage = [t for t in map(_token, rows) if t[-1] not in drops]
        return _link(row), lineage

    def current_link(self, client_id: str, user_id: int, key_profile: int | None) -> int | None:
        with self._lock:
            if "tokens" in self._batch.rewrite:
                return None
        row = self.store._one(
            "SELECT max(id) FROM links "
            "WHERE tenant = ? AND client_id = ? AND user_id = ? AND key_profile IS ?",
            (self.n, client_id, user_id, key_profile),
        )
        return row[0] if row is not None else None

    def current_links(self) -> list[int]:
        self._write_own()
        rows = self.store._all(
            "SELECT max(id) FROM links WHERE tenant = ? GROUP BY client_id, user_id, key_profile", (self.n,)
        )
        return [r[0] for r in rows]

    def scan_tokens(
        self, *, live_at: float | None = None, client_id: str | None = None, user_id: int | None = None
    ) -> list[TokenRow]:
        self._write_own()
        sql = f"SELECT {_TOKEN_COLUMNS} FROM tokens WHERE tenant = ?"
        args: list[Any] = [self.n]
        if live_at is not None:
            sql += " AND expires_at > ? AND end_reason = ''"
            args.append(live_at)
        if client_id is not None:
            sql += " AND client_id = ?"
            args.append(client_id)
        if user_id is not None:
            sql += " AND user_id = ?"
            args.append(user_id)
        return [_token(r) for r in self.store._all(sql + " ORDER BY n", tuple(args))]

    def count_tokens(self) -> int:
        self._write_own()
        row = self.store._one("SELECT count(*) FROM tokens WHERE tenant = ?", (self.n,))
        return int(row[0]) if row is not None else 0

    def count_live(self, now: float) -> int:
        row = self.store._one(
            "SELECT count(*) FROM tokens WHERE tenant = ? AND expires_at > ? AND end_reason = ''",
            (self.n, now),
        )
        return int(row[0]) if row is not None else 0

    def collect_tokens(self, horizon: float, limit: int | None = None) -> int:
        self._write_own()
        return self.store._collect(self.n, horizon, limit)

    def _write_own(self) -> None:
        """Write this tenant's marks now, so that the database answers for all of it."""
        with self._lock:
            batch = self._batch
            stale = bool(batch.added or batch.tokens or batch.token_drops or batch.rewrite or batch.links)
        if stale and self.ready:
            self.store._write([self])


# A token's columns hold no NULL: "" or 0 stand for none. Binding None (or bytes) costs the sqlite3
# module a search for an adapter per value, and a token row has up to seven of them.


def _token_sql(tenant: int, token: Token) -> tuple[Any, ...]:
    link, reason = token.link, token.end_reason
    return (
        tenant,
        bytearray.fromhex(token.key),
        token.kind.value,
        token.issued_at,
        token.expires_at,
        token.client_id or "",
        token.user_id or 0,
        token.profile_id or 0,
        token.grant_type or "",
        link.id if link is not None else 0,
        token.ended_at or 0.0,
        reason.value if reason is not None else "",
        token.cert or "",
        token.row,
    )


def _token(row: tuple[Any, ...]) -> TokenRow:
    key, kind, issued, expires, client_id, user_id, profile_id, grant, link, ended, reason, cert, n = row
    return (
        key.hex(),
        kind,
        issued,
        expires,
        client_id or None,
        user_id or None,
        profile_id or None,
        grant or None,
        link or None,
        ended if reason else None,
        reason or None,
        cert or None,
        n,
    )


def _number(ledger: SqliteLedger) -> int:
    return ledger.n


def _link(row: tuple[Any, ...]) -> LinkRow:
    lid, client_id, user_id, profile_id, grant_type, refresh, access, code, key_profile = row
    return (
        lid,
        client_id,
        user_id,
        profile_id,
        grant_type,
        refresh.hex(),
        access.hex() if access is not None else None,
        code.hex() if code is not None else None,
        key_profile,
    )


def _link_sql(n: int, link: Link) -> tuple[Any, ...]:
    lid, client_id, user_id, profile_id, grant_type, refresh, access, code, key_profile = link_row(link)
    return (
        n,
        lid,
        client_id,
        user_id,
        profile_id,
        grant_type,
        bytes.fromhex(refresh),
        bytes.fromhex(access) if access is not None else None,
        bytes.fromhex(code) if code is not None else None,
        key_profile,
    )


def _code_sql(n: int, code: AuthorizationCode) -> tuple[Any, ...]:
    row = code_row(code)
    return (n, bytes.fromhex(row[0]), *row[1:])


# The store --------------------------------------------------------------------------------------------


class SqliteStore:
    """A sandbox's state in one SQLite database (see the module docstring)."""

    persistent = True

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._db: sqlite3.Connection | None = None
        self._db_lock = threading.Lock()  # the connection; taken after any tenant's lock, never before
        self._writing = threading.Lock()  # one write at a time, in order; taken after tenants' locks
        self._dirty: dict[int, SqliteLedger] = {}
        self._deleted: list[int] = []
        self._pending = False  # changes to state (not journal entries) are waiting
        self._in_flight = False
        self._next_n = 1
        self._rows = itertools.count(1)  # token rows (see the module docstring)
        self._ids: dict[int, str] = {}
        self._sandbox: Sandbox | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._next_maintenance = 0.0
        self._entry_fields: tuple[str, ...] = ENTRY_FIELDS
        self._checkpointer: _Checkpointer | None = None

    def __repr__(self) -> str:
        return f"<SqliteStore {self.path}>"

    # Opening -----------------------------------------------------------------------------------

    def open(self, sandbox: Sandbox) -> Restored | None:
        self._sandbox = sandbox
        try:
            self._db = self._connect()
            key = self._prepare()
            sandbox.secrets = Secrets(key)
            restored = self._restore(sandbox)
        except sqlite3.DatabaseError as exc:
            self.close_quietly()
            raise StateError(_problem(self.path, exc)) from None
        except StateError:
            self.close_quietly()
            raise
        except (pickle.UnpicklingError, AttributeError, TypeError, ValueError, KeyError, EOFError) as exc:
            self.close_quietly()
            raise StateError(
                f"{self.path} holds state this mockwise cannot read ({type(exc).__name__}: {exc}); "
                "start with --fresh to begin again (the saved state is lost)"
            ) from None
        self._checkpointer = _Checkpointer(self.path)
        self._next_maintenance = time.monotonic() + 1.0
        return restored

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():  # only its owner reads it: digests of secrets, the JOSE keys
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=2.0)
        db.execute("PRAGMA journal_mode = WAL").fetchone()
        db.execute("PRAGMA synchronous = NORMAL")  # see the module docstring
        db.execute("PRAGMA wal_autocheckpoint = 0")  # the background thread checkpoints
        db.execute(f"PRAGMA journal_size_limit = {WAL_LIMIT}")
        db.execute("PRAGMA cache_size = -32000")  # 32 MB of pages
        db.execute("PRAGMA temp_store = MEMORY")
        return db

    def _prepare(self) -> bytes:
        """Create or check the schema; answers the key of the sandbox's secret digests."""
        db = self._db
        assert db is not None
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version == 0 and not db.execute("SELECT name FROM sqlite_master").fetchall():
            db.execute("PRAGMA auto_vacuum = INCREMENTAL")  # before the first table: pages can go back
            db.execute("VACUUM")
            key = Secrets().key
            db.execute("BEGIN")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute("INSERT INTO meta VALUES ('secrets_key', ?)", (key,))
            db.execute("INSERT INTO meta VALUES ('journal_fields', ?)", (" ".join(ENTRY_FIELDS),))
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.execute("COMMIT")
            return key
        if version > SCHEMA_VERSION:
            raise StateError(
                f"{self.path} was written by a newer mockwise (state schema {version}; this one reads up to "
                f"{SCHEMA_VERSION}): upgrade mockwise, or start with --fresh (the saved state is lost)"
            )
        if version < 1:
            raise StateError(
                f"{self.path} is not a mockwise state database: move it away, or start with --fresh"
            )
        migrate(db, version)
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        self._entry_fields = tuple(str(meta["journal_fields"]).split())
        key = meta["secrets_key"]
        if not isinstance(key, bytes) or len(key) < 16:
            raise StateError(f"{self.path} has no usable secrets key: start with --fresh")
        return key

    def _restore(self, sandbox: Sandbox) -> Restored | None:
        db = self._db
        assert db is not None
        top = db.execute("SELECT max(n) FROM tokens").fetchone()[0]
        self._rows = itertools.count((top or 0) + 1)
        tenants = db.execute("SELECT n, id, next_link, next_seq FROM tenants ORDER BY n").fetchall()
        self._next_n = max([n for n, *_ in tenants], default=0) + 1
        users = live = 0
        for n, tenant_id, next_link, next_seq in tenants:
            ledger = SqliteLedger(self, n, tenant_id)
            tenant = sandbox.restore_tenant(tenant_id, ledger)
            ledger.tenant = tenant
            self._ids[n] = tenant_id
            stored = tenant.stored_parts
            parts = dict(db.execute("SELECT name, data FROM parts WHERE tenant = ?", (n,)).fetchall())
            for name in (*RESTORE_ORDER, *(p for p in stored if p not in RESTORE_ORDER)):
                if name in parts:
                    stored[name].restore(load_state(parts[name]))
            ledger.drain()  # restoring marked what it put back: nothing to write
            ledger.ready = True  # the rest comes from the database as it is needed
            newest = db.execute("SELECT max(id) FROM links WHERE tenant = ?", (n,)).fetchone()[0]
            codes = [
                self._code(row, tenant)
                for row in db.execute(f"SELECT {_CODE_COLUMNS} FROM codes WHERE tenant = ?", (n,)).fetchall()
            ]
            tenant.tokens.load(codes, max(next_link, (newest or 0) + 1))
            capacity = tenant.journal.capacity
            last = db.execute("SELECT max(last) FROM journal WHERE tenant = ?", (n,)).fetchone()[0] or 0
            kept = db.execute(
                "SELECT entries FROM journal WHERE tenant = ? AND last > ? ORDER BY first",
                (n, last - capacity),
            ).fetchall()
            entries = [self._entry(values) for (blob,) in kept for values in load_state(blob)]
            tenant.journal.load(
                entries[len(entries) - capacity :] if capacity else [], max(next_seq, last + 1)
            )
            users += len(tenant.directory.users)
            live += ledger.count_live(tenant.clock.now())
        self._dirty.clear()
        self._pending = False
        if not tenants:
            return None
        return Restored(str(self.path), len(tenants), users, live)

    def _code(self, row: tuple[Any, ...], tenant: Tenant) -> AuthorizationCode:
        key, client_id, redirect_uri, user_id, profile_id, issued, expires, used, link_id = row
        link = tenant.store.link(link_id) if link_id is not None else None
        return AuthorizationCode(
            key.hex(), client_id, redirect_uri, user_id, profile_id, issued, expires, used, link
        )

    def _entry(self, values: tuple[Any, ...]) -> Entry:
        known = dict(zip(self._entry_fields, values, strict=False))
        return Entry(**{name: value for name, value in known.items() if name in _ENTRY_NAMES})

    # Tenants -----------------------------------------------------------------------------------

    def ledger(self, tenant_id: str) -> Ledger:
        n = self._next_n
        self._next_n += 1
        self._ids[n] = tenant_id
        return SqliteLedger(self, n, tenant_id)

    def created(self, tenant: Tenant) -> None:
        ledger = tenant.context.ledger
        assert isinstance(ledger, SqliteLedger)
        ledger.tenant = tenant
        with ledger._lock:
            batch = ledger._mark()
            batch.new = True
            batch.parts.update(tenant.stored_parts)
            ledger.ready = True
        self._pending = True

    def deleted(self, tenant: Tenant) -> None:
        ledger = tenant.context.ledger
        assert isinstance(ledger, SqliteLedger)
        with self._writing:
            ledger.closed = True
            ledger.drain()
            self._dirty.pop(ledger.n, None)
            self._ids.pop(ledger.n, None)
            self._deleted.append(ledger.n)
        self._pending = True

    def locate(self, value: str, key: str) -> str | None:
        """The id of the tenant a stored token belongs to."""
        found = self._find(key, value)
        return self._ids.get(found[1]) if found is not None else None

    def _find(self, key: str, value: str | None) -> tuple[TokenRow, int] | None:
        """The stored token with this hash, and its tenant's number: by the row its value carries
        (`row_of`), else by its hash in `token_keys`."""
        digest = bytes.fromhex(key)
        row = row_of(value) if value is not None else None
        found = None
        if row is not None:
            found = self._one(f"SELECT {_TOKEN_COLUMNS}, tenant FROM tokens WHERE n = ?", (row,))
            if found is not None and found[0] != digest:
                found = None
        if found is None:
            found = self._one(
                f"SELECT {_TOKEN_COLUMNS}, tenant FROM tokens "
                "WHERE n = (SELECT n FROM token_keys WHERE key = ?)",
                (digest,),
            )
            if found is not None and found[0] != digest:
                found = None
        if found is None:
            return None
        return _token(found[:-1]), found[-1]

    # Writing -----------------------------------------------------------------------------------

    @property
    def unsettled(self) -> bool:
        return self._pending or self._in_flight

    def settle(self) -> asyncio.Future[None]:
        """A future done once everything marked so far is written: the write happens in the next
        turn of the event loop, once for every request that waits in this one (group commit)."""
        loop = asyncio.get_running_loop()
        waiter = self._waiter
        if waiter is None or waiter.done() or waiter.get_loop() is not loop:
            waiter = self._waiter = loop.create_future()
            loop.call_soon(self._write_for, waiter)
        return waiter

    def _write_for(self, waiter: asyncio.Future[None]) -> None:
        if self._waiter is waiter:
            self._waiter = None
        try:
            self.flush()
        except Exception as exc:  # the waiting responses are dropped: nothing unwritten is acknowledged
            log.error("mockwise could not write its state to %s: %s", self.path, exc)
            if not waiter.done():
                waiter.set_exception(StateError(f"could not write {self.path}: {exc}"))
                waiter.exception()  # retrieved: each waiting request reports it its own way
        else:
            if not waiter.done():
                waiter.set_result(None)

    def soon(self) -> None:
        if self._timer is None and self._dirty:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(JOURNAL_DELAY, self._write_later)

    def _write_later(self) -> None:
        self._timer = None
        try:
            self.flush()
        except Exception as exc:
            log.error("mockwise could not write its journal to %s: %s", self.path, exc)

    def flush(self) -> None:
        if self._db is None:
            return
        if time.monotonic() >= self._next_maintenance:
            self._maintain()
        for _ in range(3):  # marks made by another thread while writing get their own round
            ledgers = list(self._dirty.values())
            if not ledgers and not self._deleted:
                self._pending = False
                return
            self._write(ledgers)

    def _write(self, ledgers: list[SqliteLedger]) -> None:
        """Write what `ledgers` marked, in one transaction. Locks are taken in one order: the
        tenants' (their parts' snapshots need them), then the write lock, then the connection; the
        tenants' are let go before the database is touched."""
        ledgers = [x for x in ledgers if x.ready and not x.closed]
        if len(ledgers) > 1:
            ledgers.sort(key=_number)
        locks = [x.tenant.lock for x in ledgers if x.tenant is not None]
        for lock in locks:
            lock.acquire()
        self._writing.acquire()
        batches: list[tuple[SqliteLedger, _Batch, dict[str, bytes]]] = []
        deleted: list[int] = []
        try:
            try:
                self._pending = False
                self._in_flight = True
                dirty = self._dirty
                for ledger in ledgers:
                    if dirty.get(ledger.n) is ledger:
                        del dirty[ledger.n]
                    batch = ledger.drain()
                    batches.append((ledger, batch, {}))
                    if batch.parts:
                        assert ledger.tenant is not None
                        stored = ledger.tenant.stored_parts
                        batches[-1][2].update((name, _dumps(stored[name].snapshot())) for name in batch.parts)
                deleted, self._deleted = self._deleted, []
            finally:
                for lock in reversed(locks):
                    lock.release()
            self._commit(batches, deleted)
        except BaseException:
            for ledger, batch, _ in batches:
                ledger.put_back(batch)
            self._deleted = deleted + self._deleted
            self._pending = True
            raise
        finally:
            self._in_flight = False
            self._writing.release()

    def _commit(
        self, batches: list[tuple[SqliteLedger, _Batch, dict[str, bytes]]], deleted: list[int]
    ) -> None:
        db = self._db
        assert db is not None
        with self._db_lock:
            db.execute("BEGIN")
            try:
                for n in deleted:
                    db.execute("DELETE FROM tenants WHERE n = ?", (n,))
                    for table in ("parts", "tokens", "links", "codes", "journal"):
                        db.execute(f"DELETE FROM {table} WHERE tenant = ?", (n,))
                for ledger, batch, snapshots in batches:
                    self._apply(db, ledger, batch, snapshots)
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

    def _apply(
        self, db: sqlite3.Connection, ledger: SqliteLedger, batch: _Batch, snapshots: dict[str, bytes]
    ) -> None:
        n, tenant = ledger.n, ledger.tenant
        assert tenant is not None
        if batch.new:
            db.execute("INSERT INTO tenants (n, id) VALUES (?, ?)", (n, ledger.id))
        if "tokens" in batch.rewrite:
            for table in ("tokens", "links", "codes"):
                db.execute(f"DELETE FROM {table} WHERE tenant = ?", (n,))
            db.execute("UPDATE tenants SET next_link = ? WHERE n = ?", (tenant.tokens.next_link, n))
        if "journal" in batch.rewrite:
            db.execute("DELETE FROM journal WHERE tenant = ?", (n,))
            db.execute("UPDATE tenants SET next_seq = ? WHERE n = ?", (tenant.journal.next_seq, n))
            ledger.untrimmed = 0
        if batch.token_drops:
            db.executemany("DELETE FROM tokens WHERE n = ?", [(row,) for row in batch.token_drops])
        chosen = []
        if batch.added:  # new rows, appended: one statement for many (a step per row costs more)
            values: list[Any] = []
            for token in batch.added.values():
                if token.row is None:  # a chosen value carries no row: found by its hash
                    token.row = next(self._rows)
                    chosen.append((bytes.fromhex(token.key), token.row))
                values += _token_sql(n, token)
            for start in range(0, len(values), _INSERT_CHUNK * _TOKEN_WIDTH):
                part = values[start : start + _INSERT_CHUNK * _TOKEN_WIDTH]
                db.execute(_insert_tokens(len(part) // _TOKEN_WIDTH), part)
        if batch.tokens:
            rows = []
            for token in batch.tokens.values():
                if token.row is None:
                    token.row = next(self._rows)
                    chosen.append((bytes.fromhex(token.key), token.row))
                rows.append(_token_sql(n, token))
            db.executemany(_INSERT_TOKEN, rows)
        if chosen:
            db.executemany("INSERT OR REPLACE INTO token_keys VALUES (?, ?)", chosen)
        if batch.links:
            db.executemany(_INSERT_LINK, [_link_sql(n, link) for link in batch.links.values()])
        if batch.code_drops:
            db.executemany("DELETE FROM codes WHERE key = ?", [(bytes.fromhex(k),) for k in batch.code_drops])
        if batch.codes:
            db.executemany(_INSERT_CODE, [_code_sql(n, code) for code in batch.codes.values()])
        entries = batch.entries
        if entries:  # one row for the lot
            first, last = entries[0].seq, entries[-1].seq
            blob = _dumps_flat([_entry_values(e) for e in entries])
            db.execute("INSERT OR REPLACE INTO journal VALUES (?, ?, ?, ?)", (n, first, last, blob))
            ledger.untrimmed += len(entries)
            capacity = tenant.journal.capacity
            if ledger.untrimmed > max(256, capacity // 4):
                db.execute("DELETE FROM journal WHERE tenant = ? AND last <= ?", (n, last - capacity))
                ledger.untrimmed = 0
        if snapshots:
            db.executemany(
                "INSERT OR REPLACE INTO parts VALUES (?, ?, ?)",
                [(n, name, data) for name, data in snapshots.items()],
            )

    # Collection ----------------------------------------------------------------------------------

    def _collect(self, n: int, horizon: float, limit: int | None) -> int:
        """Delete tenant `n`'s stored tokens that expired at or before `horizon` (at most `limit`),
        and the links left without their refresh token."""
        db = self._db
        assert db is not None
        with self._writing, self._db_lock:
            db.execute("BEGIN")
            try:
                sql = "SELECT n FROM tokens WHERE tenant = ? AND expires_at <= ?"
                if limit is not None:
                    sql += f" LIMIT {int(limit)}"
                gone = db.execute(f"DELETE FROM tokens WHERE n IN ({sql})", (n, horizon)).rowcount
                if gone:
                    db.execute(
                        "DELETE FROM links WHERE tenant = ? AND NOT EXISTS "
                        "(SELECT 1 FROM tokens WHERE tokens.tenant = links.tenant AND tokens.link = links.id "
                        "AND tokens.key = links.refresh)",
                        (n,),
                    )
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        return max(0, gone)

    def _maintain(self) -> None:
        """Collect expired tokens and codes of every tenant (in bounded batches), forget hashes of
        tokens that are gone, and give freed pages back to the file system."""
        self._next_maintenance = time.monotonic() + MAINTENANCE_EVERY
        sandbox = self._sandbox
        if sandbox is None:
            return
        busy = False
        for tenant in list(sandbox.tenants.values()):
            ledger = tenant.context.ledger
            if not isinstance(ledger, SqliteLedger) or not ledger.ready or ledger.closed:
                continue
            with tenant.lock:
                gone = tenant.tokens.collect(limit=MAINTENANCE_BATCH)
            busy = busy or gone >= MAINTENANCE_BATCH
        if busy:
            self._next_maintenance = time.monotonic() + 1.0
        db = self._db
        assert db is not None
        with self._writing, self._db_lock:
            db.execute(
                "DELETE FROM token_keys WHERE NOT EXISTS (SELECT 1 FROM tokens WHERE tokens.n = token_keys.n)"
            )
            free = db.execute("PRAGMA freelist_count").fetchone()[0]
            if free > 1024:
                db.execute(f"PRAGMA incremental_vacuum({free})").fetchall()

    # Reading -------------------------------------------------------------------------------------

    def _one(self, sql: str, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
        db = self._db
        assert db is not None
        with self._db_lock:
            row: tuple[Any, ...] | None = db.execute(sql, args).fetchone()
            return row

    def _all(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        db = self._db
        assert db is not None
        with self._db_lock:
            return db.execute(sql, args).fetchall()

    # Closing -------------------------------------------------------------------------------------

    def close(self) -> None:
        """Write what is left, checkpoint, and let go of the database."""
        if self._db is None:
            return
        try:
            self._full_save()
            self.flush()
            with self._db_lock:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        finally:
            self.close_quietly()

    def _full_save(self) -> None:
        """Mark every stored part of every tenant changed: a clean stop saves all of it, whatever
        was marked (a safety net; a crash relies on the marks)."""
        sandbox = self._sandbox
        if sandbox is None:
            return
        for tenant in list(sandbox.tenants.values()):
            ledger = tenant.context.ledger
            if isinstance(ledger, SqliteLedger) and ledger.ready and not ledger.closed:
                with ledger._lock:
                    ledger._mark().parts.update(tenant.stored_parts)

    def close_quietly(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None


def migrate(db: sqlite3.Connection, version: int) -> None:
    """Bring a database written by an older mockwise up to `SCHEMA_VERSION`, one step at a time
    (`MIGRATIONS[v]` takes version v to v + 1, in one transaction)."""
    while version < SCHEMA_VERSION:
        step = MIGRATIONS[version]
        db.execute("BEGIN")
        try:
            step(db)
            version += 1
            db.execute(f"PRAGMA user_version = {version}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise


MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {}
"""Schema migrations by the version they start from (version 1 is the first: none yet)."""


def _problem(path: Path, exc: sqlite3.DatabaseError) -> str:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return (
            f"{path} is locked by another program ({text}): stop it (another mockwise serve, an sqlite3 "
            "shell), or start with --fresh to begin again"
        )
    return f"{path} cannot be read ({text}): move it away, or start with --fresh to begin again"


class _Checkpointer:
    """Copies the WAL into the database now and then, on its own thread and connection, so that
    the event loop never waits for an fsync (`wal_autocheckpoint` is off on the main connection)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mockwise-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=0.5)
        except sqlite3.Error:
            return
        try:
            while not self._stop.wait(CHECKPOINT_EVERY):
                with contextlib.suppress(sqlite3.Error):
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            db.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
