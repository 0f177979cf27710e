"""One tenant's line to the state database (`mockwise._domain.ledger.Ledger`): the changes it marks,
waiting for the next group commit (`_Batch`), and the tokens and links it fetches when they are
presented (lazy loading)."""

from __future__ import annotations

import itertools
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from mockwise._domain.entries import Entry
from mockwise._domain.ledger import Ledger
from mockwise._domain.tokens import AuthorizationCode, Link, LinkRow, Token, TokenRow
from mockwise._store.rows import LINK_COLUMNS, TOKEN_COLUMNS, BadRow, link_from_sql, token_from_sql

if TYPE_CHECKING:
    from mockwise._domain.tenant import Tenant

log = logging.getLogger("mockwise.state")


def bad_row(path: Path, problem: BadRow) -> None:
    """A row that is not what its table holds: answered as absent (a token presented gets 401, not
    500), and said once in the log."""
    text = str(problem)
    if text not in _SAID:
        _SAID.add(text)
        log.warning("mockwise: %s holds a bad row, taken as absent: %s", path, text)


_SAID: set[str] = set()


class Database(Protocol):
    """What a ledger needs of its store (`mockwise._store.sqlite.SqliteStore`): where to wait for the
    next write, the token rows to hand out, and the reads of lazy loading."""

    path: Path
    _dirty: dict[int, SqliteLedger]  # ledgers with marks waiting for the next write
    _pending: bool  # changes to state (not journal entries) are waiting
    _in_flight: bool  # a write is under way (its marks may not be in the database yet)
    _rows: itertools.count[int]  # token rows (see sqlite.py's docstring)

    def _find(self, key: str, value: str | None) -> tuple[TokenRow, int] | None: ...
    def _one(self, sql: str, args: tuple[Any, ...]) -> tuple[Any, ...] | None: ...
    def _all(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]: ...
    def _collect(self, n: int, horizon: float, limit: int | None) -> int: ...
    def _write(self, ledgers: list[SqliteLedger]) -> None: ...


@dataclass(slots=True)
class Batch:
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

    __slots__ = ("_batch", "_lock", "closed", "id", "n", "ready", "saved", "store", "tenant", "untrimmed")

    @property
    def lazy(self) -> bool:
        """Once the tenant is whole: while it is being made, everything it has is in memory."""
        return self.ready and not self.closed

    def __init__(self, store: Database, n: int, tenant_id: str) -> None:
        self.store = store
        self.n = n
        self.id = tenant_id
        self.tenant: Tenant | None = None
        self.ready = False  # written only once the tenant is whole (seeded, or restored)
        self.closed = False
        self.untrimmed = 0  # journal entries written since the journal was last cut to its capacity
        self._lock = threading.Lock()
        self._batch = Batch()
        self.saved: dict[str, str] = {}  # each stored part as last written (kept by an auditing store)

    def _mark(self) -> Batch:
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

    def unwritten(self) -> set[str] | None:
        # the tenant's lock is held, and every write drains under it: with none in flight, what is
        # not in this batch has been committed
        with self._lock:
            if not self.lazy or self.store._in_flight:
                return None
            batch = self._batch
            if "tokens" in batch.rewrite:
                return None
            return batch.added.keys() | batch.tokens.keys()

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

    def marked_parts(self) -> set[str]:
        """The stored parts marked changed since the last write."""
        with self._lock:
            return set(self._batch.parts)

    def drain(self) -> Batch:
        with self._lock:
            batch, self._batch = self._batch, Batch()
            return batch

    def put_back(self, batch: Batch) -> None:
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
        row = store._one(f"SELECT {LINK_COLUMNS} FROM links WHERE tenant = ? AND id = ?", (self.n, link_id))
        if row is None:
            return None
        rows = store._all(
            f"SELECT {TOKEN_COLUMNS} FROM tokens WHERE tenant = ? AND link = ? AND link > 0 ORDER BY n",
            (self.n, link_id),
        )
        try:
            link = link_from_sql(row)
            lineage = [t for t in map(token_from_sql, rows) if t[-1] not in drops]
        except BadRow as exc:
            bad_row(store.path, exc)
            return None
        return link, lineage

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
        sql = f"SELECT {TOKEN_COLUMNS} FROM tokens WHERE tenant = ?"
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
        rows = []
        for r in self.store._all(sql + " ORDER BY n", tuple(args)):
            try:
                rows.append(token_from_sql(r))
            except BadRow as exc:  # left out: as if it were not there
                bad_row(self.store.path, exc)
        return rows

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
