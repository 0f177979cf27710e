"""Bringing a state database written by an older mockwise up to `SCHEMA_VERSION`, one version at a
time, each step in one transaction (a failed step leaves the file as it was).

Schema 1 → 2: every part of a tenant and every batch of journal entries was a pickle; each becomes
JSON data of named, typed fields. The pickles are read with `mockwise._store.pickles`, which never
unpickles: it walks the opcodes and maps the classes schema 1 wrote, by an explicit table, to data.
Anything else in a pickle (a name outside that table, an opcode schema 1 never wrote) fails the
migration with one line; the result is then read back as any schema-2 file is, field by field.

Schema 2 → 3:
- a journal entry's instants are written as whole microseconds (integers) where schema 2 wrote
  floats. Schema 3 reads a float as schema 2 meant it, so no journal row changes; the version moves
  so that a mockwise reading schema 2 refuses the file instead of taking microseconds for seconds;
- a minted token's value carries its row masked with a hash of its other bytes, where schema 2
  masked it with the token's own last bytes (which its first bytes then visibly repeated). The
  tokens schema 2 minted no longer carry their row as schema 3 reads it: each is filed under its
  hash in `token_keys`, as a token with a chosen value is.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import date
from typing import Any

from mockwise._domain.codec import JSON, RecordError
from mockwise._domain.entries import Entry
from mockwise._store.pickles import PickleError, plain, read_pickle
from mockwise._store.rows import ENTRY_FIELDS, entries_text, part_text

SCHEMA_VERSION = 3


class MigrationError(ValueError):
    """An older state database this mockwise cannot bring up to date (one line: where and why)."""


def migrate(db: sqlite3.Connection, version: int) -> None:
    """Bring `db` from `version` up to `SCHEMA_VERSION` (`MIGRATIONS[v]` takes v to v + 1)."""
    while version < SCHEMA_VERSION:
        step = MIGRATIONS[version]
        db.execute("BEGIN IMMEDIATE")
        try:
            step(db)
            version += 1
            db.execute(f"PRAGMA user_version = {version}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise


def _v1_to_v2(db: sqlite3.Connection) -> None:
    ids = dict(db.execute("SELECT n, id FROM tenants").fetchall())
    rows = db.execute("SELECT tenant, name, data FROM parts").fetchall()
    for tenant, name, blob in rows:
        where = f"the {name!r} part of tenant {ids.get(tenant, tenant)!r}"
        try:
            data = part_v2(name, blob)
        except (PickleError, RecordError, KeyError, TypeError, ValueError) as exc:
            raise MigrationError(f"{where}: {exc}") from None
        db.execute("UPDATE parts SET data = ? WHERE tenant = ? AND name = ?", (part_text(data), tenant, name))
    meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    names = tuple(str(meta.get("journal_fields", "")).split())
    for tenant, first, blob in db.execute("SELECT tenant, first, entries FROM journal").fetchall():
        where = f"journal entries {first}… of tenant {ids.get(tenant, tenant)!r}"
        try:
            entries = [_entry(names, values) for values in _pickled(blob)]
        except (PickleError, TypeError, ValueError) as exc:
            raise MigrationError(f"{where}: {exc}") from None
        db.execute(
            "UPDATE journal SET entries = ? WHERE tenant = ? AND first = ?",
            (entries_text(entries), tenant, first),
        )
    db.execute("INSERT OR REPLACE INTO meta VALUES ('journal_fields', ?)", (" ".join(ENTRY_FIELDS),))


def _v2_to_v3(db: sqlite3.Connection) -> None:
    """Schema 2's tokens found by their hash (the journal's float instants read as they are)."""
    db.execute("INSERT OR IGNORE INTO token_keys SELECT key, n FROM tokens")


MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _v1_to_v2, 2: _v2_to_v3}
"""Schema migrations by the version they start from."""


def _pickled(blob: Any) -> Any:
    return plain(read_pickle(bytes(blob) if isinstance(blob, (bytes, bytearray, memoryview)) else blob))


def _entry(names: tuple[str, ...], values: Any) -> Entry:
    if not isinstance(values, tuple) or len(values) != len(names):
        raise ValueError("an entry that is not a row of the journal's fields")
    known: dict[str, Any] = {f: v for f, v in zip(names, values, strict=True) if f in _ENTRY_NAMES}
    return Entry(**known)


_ENTRY_NAMES = frozenset(ENTRY_FIELDS)


# Schema-1 parts as schema-2 data --------------------------------------------------------------------


def part_v2(name: str, blob: Any) -> JSON:
    """The schema-2 data of a schema-1 part (`Tenant.stored_parts`)."""
    value = _pickled(blob)
    convert = _PARTS.get(name)
    if convert is None:
        raise MigrationError(f"no part is called {name!r}")
    return convert(value)


def _data(value: Any) -> JSON:
    """A plain schema-1 value as JSON values: records without their class, bytes as hex, dates ISO."""
    if isinstance(value, dict):
        return {str(k): _data(v) for k, v in value.items() if k != "__class__"}
    if isinstance(value, (list, tuple)):
        return [_data(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, date):
        return value.isoformat()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"a {type(value).__name__} in a record")


def _record(value: Any, kind: str) -> dict[str, Any]:
    if not isinstance(value, dict) or value.get("__class__") != kind:
        raise TypeError(f"expected a {kind}")
    return value


def _settings(value: Any) -> JSON:
    """Schema 1's `Settings` (sections of fields) as dotted keys (`Settings.as_dict`)."""
    out = {}
    for section, values in _record(value, "Settings").items():
        if section == "__class__":
            continue
        if not isinstance(values, dict):
            raise TypeError(f"settings section {section!r} is not a record")
        out.update({f"{section}.{k}": _data(v) for k, v in values.items() if k != "__class__"})
    return out


def _clock(value: Any) -> JSON:
    if value is None:
        return None
    offset, frozen_at = value
    return {"offset": offset, "frozen_at": frozen_at}


def _directory(value: Any) -> JSON:
    if value is None:
        return None
    state = _pickled(value) if isinstance(value, bytes) else value
    return {
        "clients": [_data(_record(c, "ApiClient")) for c in state["clients"].values()],
        "users": [_data(_record(u, "User")) for u in state["users"].values()],
        "profiles": [_data(_record(p, "Profile")) for p in state["profiles"].values()],
        "next_user": state["_next_user"],
        "next_profile": state["_next_profile"],
        "next_balance": state["_next_balance"],
    }


def _linking(value: Any) -> JSON:
    if value is None:
        return None
    return {
        "attempts": _data(value.get("attempts", {})),
        "login_attempts": _data(value.get("login_attempts", {})),
        "claims": [_data(c) for c in value.get("claims", {}).values()],
        "mailbox": [_data(m) for m in value.get("mailbox", [])],
        "next_mail": value.get("next_mail", 1),
        "sessions": [_data(s) for s in value.get("sessions", {}).values()],
    }


def _sca(value: Any) -> JSON:
    return None if value is None else _data(value)


def _jose(value: Any) -> JSON:
    if value is None:
        return None
    return [_data(_record(k, "PartnerKey")) for keys in value.values() for k in keys.values()]


def _jose_keys(value: Any) -> JSON:
    if value is None:
        return None
    keys = []
    for key_id, version, scope, algorithm, pem in value["keys"]:
        private = pem.decode("ascii") if isinstance(pem, bytes) else pem
        keys.append(
            {"key_id": key_id, "version": version, "scope": scope, "algorithm": algorithm, "private": private}
        )
    return {"version": value["version"], "keys": keys}


def _list(value: Any) -> JSON:
    return None if value is None else [_data(v) for v in value]


def _same(value: Any) -> JSON:
    return value


def _tokens(value: Any) -> JSON:
    """Schema 1's `TokenService` snapshot (token objects joined to their links) as `TokensState`."""
    if value is None:
        return None
    state = _pickled(value) if isinstance(value, bytes) else value
    tokens = [_record(t, "Token") for t in state.get("tokens", [])]
    links: dict[int, dict[str, Any]] = {}
    for token in tokens:
        if token.get("link") is not None:
            links[id(token["link"])] = _record(token["link"], "Link")
    current = [_record(link, "Link") for link in state.get("links", {}).values()]
    for link in current:
        links.setdefault(id(link), link)
    held = {t["key"] for t in tokens}
    for link in links.values():
        for own in (link.get("refresh"), link.get("access")):
            if own is not None and own["key"] not in held:
                tokens.append(_record(own, "Token"))
                held.add(own["key"])
    codes = [_record(c, "AuthorizationCode") for c in state.get("codes", {}).values()]
    return {
        "tokens": [
            {**_data({k: v for k, v in t.items() if k != "link"}), "link": _link_id(t.get("link"))}
            for t in tokens
        ],
        "links": [
            {
                **_data({k: v for k, v in link.items() if k not in ("refresh", "access", "history")}),
                "refresh": link["refresh"]["key"],
                "access": link["access"]["key"] if link.get("access") is not None else None,
                "history": list(link.get("history", {})),
            }
            for link in links.values()
        ],
        "current": sorted(link["id"] for link in current),
        "codes": [
            {**_data({k: v for k, v in c.items() if k != "link"}), "link": _link_id(c.get("link"))}
            for c in codes
        ],
        "next_link": state.get("next_link", 1),
    }


def _link_id(link: Any) -> int | None:
    return None if link is None else int(link["id"])


def _seeded(value: Any) -> JSON:
    """Schema 1's seeded snapshot: every part of the tenant (`Tenant.parts`), pickled inside."""
    if value is None:
        return None
    parts = _pickled(value) if isinstance(value, bytes) else value
    out: dict[str, JSON] = {}
    for name, part in parts.items():
        if name == "context":
            settings, clock, directory = part
            out[name] = {
                "settings": _settings(settings),
                "clock": _clock(clock),
                "directory": _directory(directory),
            }
        elif name == "tokens":
            out[name] = _tokens(part)
        elif name == "journal":
            out[name] = _list(part)
        elif name == "rate_limits":
            out[name] = None
        elif name in _PARTS:
            out[name] = _PARTS[name](part)
        else:
            raise MigrationError(f"the seeded snapshot has a part {name!r}")
    return out


_PARTS: dict[str, Callable[[Any], JSON]] = {
    "settings": _settings,
    "clock": _clock,
    "directory": _directory,
    "linking": _linking,
    "sca": _sca,
    "jose": _jose,
    "jose_keys": _jose_keys,
    "certificates": _list,
    "faults": _list,
    "journal": _same,
    "seeded": _seeded,
}
