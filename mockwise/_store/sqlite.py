"""The state store in SQLite: what `mockwise serve` keeps in its state directory (`.mockwise/state.db`), so a
restart, or a crash, loses nothing the server answered.

What is stored how (schema version `SCHEMA_VERSION`, in `PRAGMA user_version`):

    tenants     one row per tenant (its id, and counters a reset rewinds)
    parts       the small, rarely-changing state, one JSON snapshot per tenant and part
                (`Tenant.stored_parts`: settings, clock, directory, linking, SCA, JOSE keys,
                certificates, faults, journal capacity, the seeded snapshot), saved whole when marked:
                data of named, typed fields, read back field by field (`mockwise._domain.codec`)
    tokens      one row per token: the SHA-256 of its value (never the value) and its state, in
                the order they were minted; links and authorization codes row by row too
    token_keys  hash -> row, for the tokens whose value does not carry their row (chosen values,
                and the tokens an older schema minted)
    journal     the entries of each write in one row (JSON); the newest `capacity` are kept per tenant
    meta        the key of the sandbox's secret digests, the journal's field names

Tokens are appended, never inserted by hash: a token the store mints carries its row number in its
value (`mockwise._domain.tokens.uuid_token(row)`: 40 of a UUID's 122 random bits, masked with a
hash of the rest), so the store finds it by row and checks the hash. An index of random hashes
would write a random page per token; `token_keys` holds only the few tokens with chosen values
(seeded personal tokens), and those minted before schema 3.

Durability: the domain marks every change on its tenant's ledger (`mockwise._domain.ledger`); the
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
import itertools
import logging
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mockwise._domain.codec import RecordError
from mockwise._domain.ledger import Ledger
from mockwise._domain.model import Secrets
from mockwise._domain.store import Restored, StoreUnavailable
from mockwise._domain.tokens import AuthorizationCode, TokenRow, row_of
from mockwise._store.ledger import Batch, SqliteLedger, bad_row
from mockwise._store.lock import StateError
from mockwise._store.migrate import SCHEMA_VERSION, MigrationError, migrate
from mockwise._store.pickles import PickleError
from mockwise._store.rows import (
    CODE_COLUMNS,
    ENTRY_FIELDS,
    LINK_COLUMNS,
    TOKEN_COLUMNS,
    TOKEN_WIDTH,
    BadRow,
    code_from_sql,
    code_sql,
    entries_from_text,
    entries_text,
    link_sql,
    part_data,
    part_text,
    reorder_entries,
    token_from_sql,
    token_sql,
)

if TYPE_CHECKING:
    from mockwise._domain.sandbox import Sandbox
    from mockwise._domain.tenant import Tenant

log = logging.getLogger("mockwise.state")

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
    tenant INTEGER NOT NULL, name TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (tenant, name)
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
    tenant INTEGER NOT NULL, first INTEGER NOT NULL, last INTEGER NOT NULL, entries TEXT NOT NULL,
    PRIMARY KEY (tenant, first)
) WITHOUT ROWID;
"""


#: The columns each table must have (`SqliteStore._check_tables`).
_COLUMNS = {
    "meta": ("key", "value"),
    "tenants": ("n", "id", "next_link", "next_seq"),
    "parts": ("tenant", "name", "data"),
    "tokens": ("n", "tenant", *(c.strip() for c in TOKEN_COLUMNS.split(","))),
    "token_keys": ("key", "n"),
    "links": ("tenant", *(c.strip() for c in LINK_COLUMNS.split(","))),
    "codes": ("tenant", *(c.strip() for c in CODE_COLUMNS.split(","))),
    "journal": ("tenant", "first", "last", "entries"),
}

_INSERT_TOKEN = f"INSERT OR REPLACE INTO tokens (tenant, {TOKEN_COLUMNS}) VALUES ({', '.join('?' * 14)})"
_INSERT_CHUNK = 500  # rows per INSERT statement (well below SQLite's limit on parameters)


@functools.lru_cache(maxsize=64)
def _insert_tokens(rows: int) -> str:
    """`INSERT INTO tokens ... VALUES (...), (...)` for `rows` new rows."""
    one = f"({', '.join('?' * TOKEN_WIDTH)})"
    return f"INSERT INTO tokens (tenant, {TOKEN_COLUMNS}) VALUES {', '.join([one] * rows)}"


_INSERT_LINK = f"INSERT OR REPLACE INTO links (tenant, {LINK_COLUMNS}) VALUES ({', '.join('?' * 10)})"
_INSERT_CODE = f"INSERT OR REPLACE INTO codes (tenant, {CODE_COLUMNS}) VALUES ({', '.join('?' * 10)})"


_forks = [0]  # how many times this process is a fork's child: a loop taken before is not its own


def _forked() -> None:
    _forks[0] += 1


os.register_at_fork(after_in_child=_forked)


def _number(ledger: SqliteLedger) -> int:
    return ledger.n


# The store --------------------------------------------------------------------------------------------


class SqliteStore:
    """A sandbox's state in one SQLite database (see the module docstring)."""

    persistent = True

    def __init__(self, path: Path | str, *, audit: bool = False) -> None:
        self.path = Path(path)
        self.audit = audit
        """Check at every write that no stored part changed without a mark (`unmarked` lists each
        one found): for tests, which make forgetting a mark fail (it costs a snapshot per part)."""
        self.unmarked: list[str] = []
        self.failure: str | None = None
        """Why the last write failed (None once one succeeds): the data plane answers 503 and the
        health check says degraded meanwhile."""
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
        self._loop: tuple[asyncio.AbstractEventLoop, int, int] | None = None  # see `settle`
        self._timer: asyncio.TimerHandle | None = None
        self._next_maintenance = 0.0
        self._entry_fields: tuple[str, ...] = ENTRY_FIELDS
        self._checkpointer: _Checkpointer | None = None

    def __repr__(self) -> str:
        return f"<SqliteStore {self.path}>"

    # Opening -----------------------------------------------------------------------------------

    def open(self, sandbox: Sandbox) -> Restored | None:
        """Open (or create) the database and bring its tenants back. Every way it can be unusable
        (not a database, a newer schema, a table or a column missing, a part or a row that is not
        what it should be) is a StateError of one line naming the file and what to do."""
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
        except (RecordError, BadRow, MigrationError, PickleError) as exc:
            self.close_quietly()
            raise StateError(
                f"{self.path} holds state this mockwise cannot read ({exc}); move it away, or start with "
                "--fresh to begin again (the saved state is lost)"
            ) from None
        except Exception as exc:  # a shape no check above foresaw: still one line, never a traceback
            self.close_quietly()
            raise StateError(
                f"{self.path} holds state this mockwise cannot read ({type(exc).__name__}: {exc}); move it "
                "away, or start with --fresh to begin again (the saved state is lost)"
            ) from None
        self._checkpointer = _Checkpointer(self.path)
        self._next_maintenance = time.monotonic() + 1.0
        return restored

    def _connect(self) -> sqlite3.Connection:
        path = self.path
        if not os.path.lexists(path):
            self._create(path)
        elif os.path.islink(path):
            raise StateError(
                f"{path} is a symbolic link: remove it (mockwise never follows one to its state)"
            )
        elif os.path.getsize(path) == 0:  # never one of ours: a new database is renamed into place whole
            raise StateError(
                f"{path} is empty (0 bytes), not a mockwise state database (a failed copy or restore?): "
                "move it away, or start with --fresh to begin again"
            )
        db = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=2.0, cached_statements=256
        )
        db.execute("PRAGMA journal_mode = WAL").fetchone()
        db.execute("PRAGMA synchronous = NORMAL")  # see the module docstring
        db.execute("PRAGMA wal_autocheckpoint = 0")  # the background thread checkpoints
        db.execute(f"PRAGMA journal_size_limit = {WAL_LIMIT}")
        # 8 MB of pages: the interior pages of a million tokens' tables fit, and a leaf comes from the
        # OS's file cache in one read; 32 MB made no start-up or request faster, and stayed resident.
        db.execute("PRAGMA cache_size = -8000")
        db.execute("PRAGMA temp_store = MEMORY")
        return db

    @staticmethod
    def _create(path: Path) -> None:
        """A new, empty state database at `path`: made beside it (created anew, never through a
        link, readable by its owner only: it holds digests of secrets and the JOSE keys), its
        schema written, then renamed into place, so that `path` is a whole database or nothing."""
        path.parent.mkdir(parents=True, exist_ok=True)
        new = path.with_name(path.name + ".new")
        for leftover in (new, new.with_name(new.name + "-journal")):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(leftover)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        os.close(os.open(new, flags, 0o600))
        db = sqlite3.connect(new, isolation_level=None)
        try:
            db.execute("PRAGMA auto_vacuum = INCREMENTAL")  # before the first table: pages can go back
            db.execute("BEGIN")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute("INSERT INTO meta VALUES ('secrets_key', ?)", (Secrets().key,))
            db.execute("INSERT INTO meta VALUES ('journal_fields', ?)", (" ".join(ENTRY_FIELDS),))
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.execute("COMMIT")
        finally:
            db.close()
        os.replace(new, path)

    def _prepare(self) -> bytes:
        """Check (and migrate) the schema; answers the key of the sandbox's secret digests."""
        db = self._db
        assert db is not None
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StateError(
                f"{self.path} was written by a newer mockwise (state schema {version}; this one reads up to "
                f"{SCHEMA_VERSION}): upgrade mockwise, or start with --fresh (the saved state is lost)"
            )
        if version < 1:
            raise StateError(
                f"{self.path} is not a mockwise state database: move it away, or start with --fresh"
            )
        self._check_tables(db)
        try:
            migrate(db, version)
        except MigrationError as exc:
            raise StateError(
                f"{self.path} is a state database of schema {version} that this mockwise cannot bring up "
                f"to date ({exc}); move it away, or start with --fresh to begin again"
            ) from None
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        key = meta.get("secrets_key")
        if not isinstance(key, bytes) or len(key) < 16:
            raise StateError(f"{self.path} has no usable secrets key: start with --fresh")
        fields = tuple(str(meta.get("journal_fields", "")).split())
        if fields != ENTRY_FIELDS:  # `Entry` changed since the rows were written: rewrite them
            self._reorder_journal(db, fields)
        return key

    def _check_tables(self, db: sqlite3.Connection) -> None:
        """Every table and column this schema reads is there (a column dropped by hand is one line
        now, not a traceback later)."""
        for table, columns in _COLUMNS.items():
            found = {row[1] for row in db.execute(f"PRAGMA table_info({table})").fetchall()}
            if not found:
                raise StateError(
                    f"{self.path} has no table {table!r}: it is not a mockwise state database, or was "
                    "changed by hand; move it away, or start with --fresh"
                )
            missing = [c for c in columns if c not in found]
            if missing:
                raise StateError(
                    f"{self.path}: table {table!r} has no column {missing[0]!r} (changed by hand?); move it "
                    "away, or start with --fresh"
                )

    def _reorder_journal(self, db: sqlite3.Connection, fields: tuple[str, ...]) -> None:
        db.execute("BEGIN IMMEDIATE")
        try:
            for tenant, first, text in db.execute("SELECT tenant, first, entries FROM journal").fetchall():
                where = f"journal entries {first}… of tenant {self._ids.get(tenant, tenant)}"
                db.execute(
                    "UPDATE journal SET entries = ? WHERE tenant = ? AND first = ?",
                    (reorder_entries(text, fields, where), tenant, first),
                )
            db.execute("INSERT OR REPLACE INTO meta VALUES ('journal_fields', ?)", (" ".join(ENTRY_FIELDS),))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _restore(self, sandbox: Sandbox) -> Restored | None:
        db = self._db
        assert db is not None
        top = db.execute("SELECT max(n) FROM tokens").fetchone()[0]
        self._rows = itertools.count((top or 0) + 1)
        tenants = db.execute("SELECT n, id, next_link, next_seq FROM tenants ORDER BY n").fetchall()
        self._next_n = max([n for n, *_ in tenants], default=0) + 1
        users = live = 0
        for n, tenant_id, next_link, next_seq in tenants:
            if (
                not isinstance(tenant_id, str)
                or not isinstance(next_link, int)
                or not isinstance(next_seq, int)
            ):
                raise BadRow(f"tenant row {n!r} is not a tenant")
            ledger = SqliteLedger(self, n, tenant_id)
            tenant = sandbox.restore_tenant(tenant_id, ledger)
            ledger.tenant = tenant
            self._ids[n] = tenant_id
            stored = tenant.stored_parts
            parts = dict(db.execute("SELECT name, data FROM parts WHERE tenant = ?", (n,)).fetchall())
            unknown = parts.keys() - stored.keys()
            if unknown:
                raise RecordError(f"tenant {tenant_id!r} has a part {sorted(map(str, unknown))[0]!r}")
            for name in (*RESTORE_ORDER, *(p for p in stored if p not in RESTORE_ORDER)):
                if name in parts:
                    where = f"the {name!r} part of tenant {tenant_id!r}"
                    stored[name].restore(part_data(parts[name], where))
            ledger.drain()  # restoring marked what it put back: nothing to write
            if self.audit:
                ledger.saved = {name: part_text(part.snapshot()) for name, part in stored.items()}
            ledger.ready = True  # the rest comes from the database as it is needed
            newest = db.execute("SELECT max(id) FROM links WHERE tenant = ?", (n,)).fetchone()[0]
            codes = [
                self._code(row, tenant)
                for row in db.execute(f"SELECT {CODE_COLUMNS} FROM codes WHERE tenant = ?", (n,)).fetchall()
            ]
            tenant.tokens.load(codes, max(next_link, (newest or 0) + 1))
            capacity = tenant.journal.capacity
            last = db.execute("SELECT max(last) FROM journal WHERE tenant = ?", (n,)).fetchone()[0] or 0
            kept = db.execute(
                "SELECT first, entries FROM journal WHERE tenant = ? AND last > ? ORDER BY first",
                (n, last - capacity),
            ).fetchall()
            entries = [
                entry
                for first, text in kept
                for entry in entries_from_text(
                    text, ENTRY_FIELDS, f"journal entries {first}… of tenant {tenant_id!r}"
                )
            ]
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
        key, client_id, redirect_uri, user_id, profile_id, issued, expires, used, link_id = code_from_sql(row)
        link = tenant.store.link(link_id) if link_id is not None else None
        return AuthorizationCode(
            key, client_id, redirect_uri, user_id, profile_id, issued, expires, used, link
        )

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
            found = self._one(f"SELECT {TOKEN_COLUMNS}, tenant FROM tokens WHERE n = ?", (row,))
            if found is not None and found[0] != digest:
                found = None
        if found is None:
            found = self._one(
                f"SELECT {TOKEN_COLUMNS}, tenant FROM tokens "
                "WHERE n = (SELECT n FROM token_keys WHERE key = ?)",
                (digest,),
            )
            if found is not None and found[0] != digest:
                found = None
        if found is None:
            return None
        try:
            return token_from_sql(found[:-1]), found[-1]
        except BadRow as exc:  # as if it were not there: whoever presents it gets a 401, not a 500
            bad_row(self.path, exc)
            return None

    # Writing -----------------------------------------------------------------------------------

    @property
    def unsettled(self) -> bool:
        return self._pending or self._in_flight

    def settle(self) -> asyncio.Future[None]:
        """A future done once everything marked so far is written: the write happens in the next
        turn of the event loop, once for every request that waits in this one (group commit). It
        fails with `StoreUnavailable` when the write does."""
        # The loop is taken once per thread and loop: asyncio.get_running_loop() makes a getpid
        # system call every time in Python 3.11 (a fork check), one per request. The loop last
        # taken, on the thread it runs on and still running, is the running loop (one per thread).
        # A forked child takes it again, as asyncio would (`_forks`).
        taken = self._loop
        if (
            taken is not None
            and taken[1] == threading.get_ident()
            and taken[2] == _forks[0]
            and taken[0].is_running()
        ):
            loop = taken[0]
        else:
            loop = asyncio.get_running_loop()
            self._loop = (loop, threading.get_ident(), _forks[0])
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
        except Exception as exc:  # the waiting responses get a 503: nothing unwritten is acknowledged
            if not waiter.done():
                waiter.set_exception(StoreUnavailable(self.failure or str(exc)))
                waiter.exception()  # retrieved: each waiting request reports it its own way
        else:
            if not waiter.done():
                waiter.set_result(None)

    def soon(self) -> None:
        if self._timer is None and self._dirty:
            self._timer = asyncio.get_running_loop().call_later(JOURNAL_DELAY, self._write_later)

    def _write_later(self) -> None:
        self._timer = None
        with contextlib.suppress(Exception):  # logged by flush; the next write tries again
            self.flush()

    def flush(self) -> None:
        if self._db is None:
            return
        try:
            if self.audit:
                self._audit()
            if time.monotonic() >= self._next_maintenance:
                self._maintain()
            self._flush()
        except Exception as exc:
            cause = f"{type(exc).__name__}: {exc}" if not isinstance(exc, sqlite3.Error) else str(exc)
            if self.failure != cause:
                log.error("mockwise cannot write its state to %s: %s", self.path, cause)
            self.failure = cause
            raise
        if self.failure is not None:
            log.warning("mockwise writes its state to %s again", self.path)
            self.failure = None

    def _flush(self) -> None:
        for _ in range(3):  # marks made by another thread while writing get their own round
            ledgers = list(self._dirty.values())
            if not ledgers and not self._deleted:
                self._pending = False
                return
            self._write(ledgers)

    def _audit(self) -> None:
        """Every stored part not marked since its last write must be as it was written: one that
        changed was changed without a mark, which a crash would lose (`unmarked`)."""
        sandbox = self._sandbox
        if sandbox is None:
            return
        for tenant in list(sandbox.tenants.values()):
            ledger = tenant.context.ledger
            if not isinstance(ledger, SqliteLedger) or not ledger.ready or ledger.closed:
                continue
            with tenant.lock:
                marked = ledger.marked_parts()
                for name, part in tenant.stored_parts.items():
                    saved = ledger.saved.get(name)
                    if name not in marked and saved is not None and part_text(part.snapshot()) != saved:
                        self.unmarked.append(f"tenant {tenant.id!r}: {name!r} changed without a mark")
                        ledger.saved[name] = part_text(part.snapshot())

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
        batches: list[tuple[SqliteLedger, Batch, dict[str, str]]] = []
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
                        batches[-1][2].update(
                            (name, part_text(stored[name].snapshot())) for name in batch.parts
                        )
                deleted, self._deleted = self._deleted, []
            finally:
                for lock in reversed(locks):
                    lock.release()
            self._commit(batches, deleted)
            if self.audit:
                for ledger, _, snapshots in batches:
                    ledger.saved.update(snapshots)
        except BaseException:
            for ledger, batch, _ in batches:
                ledger.put_back(batch)
            self._deleted = deleted + self._deleted
            self._pending = True
            raise
        finally:
            self._in_flight = False
            self._writing.release()

    def _commit(self, batches: list[tuple[SqliteLedger, Batch, dict[str, str]]], deleted: list[int]) -> None:
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
        self, db: sqlite3.Connection, ledger: SqliteLedger, batch: Batch, snapshots: dict[str, str]
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
                values += token_sql(n, token)
            for start in range(0, len(values), _INSERT_CHUNK * TOKEN_WIDTH):
                part = values[start : start + _INSERT_CHUNK * TOKEN_WIDTH]
                db.execute(_insert_tokens(len(part) // TOKEN_WIDTH), part)
        if batch.tokens:
            rows = []
            for token in batch.tokens.values():
                if token.row is None:
                    token.row = next(self._rows)
                    chosen.append((bytes.fromhex(token.key), token.row))
                rows.append(token_sql(n, token))
            db.executemany(_INSERT_TOKEN, rows)
        if chosen:
            db.executemany("INSERT OR REPLACE INTO token_keys VALUES (?, ?)", chosen)
        if batch.links:
            db.executemany(_INSERT_LINK, [link_sql(n, link) for link in batch.links.values()])
        if batch.code_drops:
            db.executemany("DELETE FROM codes WHERE key = ?", [(bytes.fromhex(k),) for k in batch.code_drops])
        if batch.codes:
            db.executemany(_INSERT_CODE, [code_sql(n, code) for code in batch.codes.values()])
        entries = batch.entries
        if entries:  # one row for the lot
            first, last = entries[0].seq, entries[-1].seq
            text = entries_text(entries)
            db.execute("INSERT OR REPLACE INTO journal VALUES (?, ?, ?, ?)", (n, first, last, text))
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
