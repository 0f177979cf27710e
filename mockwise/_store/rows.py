"""The state database's rows as data, and back, with every column's type checked on the way in.

- Tokens, links and codes are SQLite rows of named columns (`TOKEN_COLUMNS`...). A token's columns
  hold no NULL ("" or 0 stand for none: binding None costs the sqlite3 module an adapter search per
  value). Reading one back checks each column (`token_from_sql`): a row that is not a token is
  `BadRow`, which the store answers as "no such token" (a 401 for whoever presents it), never a 500.
- A part of a tenant (`Tenant.stored_parts`) is JSON text: the part's snapshot, data of named,
  typed fields (`mockwise._domain.codec`), which the part itself reads back field by field.
- Journal entries are JSON too: one row per write, a list of entries, each the list of its values
  in the order the database's `journal_fields` names them (`ENTRY_FIELDS` when it was written by
  this mockwise), so that a field added to `Entry` later does not make old rows unreadable. A
  field with a codec of its own is written through it: an instant as whole microseconds
  (`mockwise._domain.clock.INSTANT`; schema 2 wrote floats, which read back as they were).
  They are encoded by orjson, a tenth of the cost of the standard encoder on every request kept
  (the same JSON, floats written as shortest round-trip either way); a value orjson refuses (a
  lone surrogate, an integer past 64 bits) sends its batch through the standard encoder instead.
"""

from __future__ import annotations

import json
from dataclasses import fields
from operator import attrgetter
from typing import Any

import orjson

from mockwise._domain.codec import CODEC, JSON, RecordError, compact_json, from_data
from mockwise._domain.entries import Entry
from mockwise._domain.tokens import (
    AuthorizationCode,
    EndReason,
    Link,
    LinkRow,
    Token,
    TokenKind,
    TokenRow,
    code_row,
    link_row,
)


class BadRow(ValueError):
    """A row of the state database that is not what its table holds (one line: which and why)."""


TOKEN_COLUMNS = (  # in the order of a TokenRow
    "key, kind, issued_at, expires_at, client_id, user_id, profile_id, grant_type, link, ended_at, "
    "end_reason, cert, n"
)
TOKEN_WIDTH = 14  # columns of a token row, tenant included
LINK_COLUMNS = "id, client_id, user_id, profile_id, grant_type, refresh, access, code, key_profile"
CODE_COLUMNS = "key, client_id, redirect_uri, user_id, profile_id, issued_at, expires_at, used_at, link"

_KINDS = frozenset(k.value for k in TokenKind)
_REASONS = frozenset(r.value for r in EndReason) | {""}


def token_sql(tenant: int, token: Token) -> tuple[Any, ...]:
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


def token_from_sql(row: tuple[Any, ...]) -> TokenRow:
    """A stored token's row (`TOKEN_COLUMNS`) as a `TokenRow`; BadRow when a column is not of its kind."""
    if len(row) != 13:
        raise BadRow(f"a token row of {len(row)} columns")
    key, kind, issued, expires, client_id, user_id, profile_id, grant, link, ended, reason, cert, n = row
    _digest(key, "token", "key")
    if kind not in _KINDS:
        raise BadRow(f"token row {n!r}: kind {kind!r:.40} is not a token kind")
    if reason not in _REASONS:
        raise BadRow(f"token row {n!r}: end_reason {reason!r:.40} is not a reason")
    for name, value in (("issued_at", issued), ("expires_at", expires), ("ended_at", ended)):
        _number(value, n, name)
    for name, value in (("client_id", client_id), ("grant_type", grant), ("cert", cert)):
        _text(value, n, name)
    for name, value in (("user_id", user_id), ("profile_id", profile_id), ("link", link), ("n", n)):
        _whole(value, n, name)
    return (
        key.hex(),
        kind,
        float(issued),
        float(expires),
        client_id or None,
        user_id or None,
        profile_id or None,
        grant or None,
        link or None,
        float(ended) if reason else None,
        reason or None,
        cert or None,
        n,
    )


def link_sql(n: int, link: Link) -> tuple[Any, ...]:
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


def link_from_sql(row: tuple[Any, ...]) -> LinkRow:
    if len(row) != 9:
        raise BadRow(f"a link row of {len(row)} columns")
    lid, client_id, user_id, profile_id, grant_type, refresh, access, code, key_profile = row
    _whole(lid, lid, "id")
    _text(client_id, lid, "client_id", "link")
    _text(grant_type, lid, "grant_type", "link")
    _whole(user_id, lid, "user_id", "link")
    for name, value in (("profile_id", profile_id), ("key_profile", key_profile)):
        if value is not None:
            _whole(value, lid, name, "link")
    _digest(refresh, "link", "refresh")
    for value, name in ((access, "access"), (code, "code")):
        if value is not None:
            _digest(value, "link", name)
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


def code_sql(n: int, code: AuthorizationCode) -> tuple[Any, ...]:
    row = code_row(code)
    return (n, bytes.fromhex(row[0]), *row[1:])


def code_from_sql(
    row: tuple[Any, ...],
) -> tuple[str, str, str, int, int | None, float, float, float | None, int | None]:
    if len(row) != 9:
        raise BadRow(f"a code row of {len(row)} columns")
    key, client_id, redirect_uri, user_id, profile_id, issued, expires, used, link = row
    _digest(key, "code", "key")
    _text(client_id, "?", "client_id", "code")
    _text(redirect_uri, "?", "redirect_uri", "code")
    _whole(user_id, "?", "user_id", "code")
    for name, value in (("profile_id", profile_id), ("link", link)):
        if value is not None:
            _whole(value, "?", name, "code")
    _number(issued, "?", "issued_at", "code")
    _number(expires, "?", "expires_at", "code")
    if used is not None:
        _number(used, "?", "used_at", "code")
    return (
        key.hex(),
        client_id,
        redirect_uri,
        user_id,
        profile_id,
        float(issued),
        float(expires),
        float(used) if used is not None else None,
        link,
    )


def _digest(value: Any, table: str, name: str) -> None:
    if not isinstance(value, bytes) or len(value) != 32:
        raise BadRow(f"a {table} row's {name} is not a SHA-256 digest")


def _number(value: Any, n: Any, name: str, table: str = "token") -> None:
    if type(value) not in (int, float):
        raise BadRow(f"{table} row {n!r}: {name} is a {type(value).__name__}, not a number")


def _whole(value: Any, n: Any, name: str, table: str = "token") -> None:
    if type(value) is not int:
        raise BadRow(f"{table} row {n!r}: {name} is a {type(value).__name__}, not a whole number")


def _text(value: Any, n: Any, name: str, table: str = "token") -> None:
    if type(value) is not str:
        raise BadRow(f"{table} row {n!r}: {name} is a {type(value).__name__}, not text")


# Parts --------------------------------------------------------------------------------------------


def part_text(data: JSON) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def part_data(text: Any, where: str) -> JSON:
    """A part's JSON, parsed (RecordError naming `where` when it is not JSON)."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise RecordError(f"{where}: not JSON text") from None
    if not isinstance(text, str):
        raise RecordError(f"{where}: not JSON text")
    try:
        return json.loads(text, parse_constant=_no_constant)
    except ValueError as exc:
        raise RecordError(f"{where}: not JSON ({exc})") from None


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON has")


# Journal entries ----------------------------------------------------------------------------------

ENTRY_FIELDS = tuple(f.name for f in fields(Entry))
entry_values = attrgetter(*ENTRY_FIELDS)
_ENTRY_CODECS = tuple((i, f.metadata[CODEC][0]) for i, f in enumerate(fields(Entry)) if CODEC in f.metadata)


def entries_text(entries: list[Entry]) -> str:
    """A batch of journal entries as one JSON row (values in `ENTRY_FIELDS` order)."""
    rows = [_entry_row(e) for e in entries]
    try:
        return orjson.dumps(rows).decode()
    except orjson.JSONEncodeError:
        return _ENTRIES(rows)


def _entry_row(entry: Entry) -> list[Any]:
    row = list(entry_values(entry))
    for i, encode in _ENTRY_CODECS:
        row[i] = encode(row[i])
    return row


# What orjson refuses: flat rows of scalars and tuples of names, no cycle to look for.
_ENTRIES = compact_json(check_circular=False)


def entries_from_text(text: Any, names: tuple[str, ...], where: str) -> list[Entry]:
    """The entries of a journal row written with fields `names`; fields `Entry` no longer has are
    left out, fields it has since gained take their defaults. RecordError when it is not that."""
    rows = part_data(text, where)
    if not isinstance(rows, list):
        raise RecordError(f"{where}: expected a list of entries")
    known = [(i, name) for i, name in enumerate(names) if name in _ENTRY_NAMES]
    out = []
    for number, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != len(names):
            raise RecordError(f"{where}[{number}]: expected a list of {len(names)} values")
        out.append(from_data(Entry, {name: row[i] for i, name in known}, f"{where}[{number}]"))
    return out


def reorder_entries(text: Any, names: tuple[str, ...], where: str) -> str:
    """A journal row written with fields `names`, rewritten in `ENTRY_FIELDS` order."""
    return entries_text(entries_from_text(text, names, where))


_ENTRY_NAMES = frozenset(ENTRY_FIELDS)
