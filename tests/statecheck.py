"""A tenant's whole state as plain, comparable data: what a state store must bring back.

`state_of(tenant)` flattens every stored part, every token, code, current link and journal entry
into dicts, lists and scalars (tokens and links by hash and id, keys by fingerprint), so a tenant
restored from a state store can be compared with the one that wrote it, field by field.
"""

from __future__ import annotations

import dataclasses
import enum
from collections import deque
from datetime import date
from typing import Any

from jwcrypto.jwk import JWK

from mockwise._domain.tenant import Tenant
from mockwise._domain.tokens import Link, Token

NOT_KEPT = {"_rng"}  # a fault's random generator is remade from its seed


def plain(value: Any) -> Any:
    if isinstance(value, Token):
        fields = {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        fields["link"] = value.link.id if value.link is not None else None
        del fields["row"]  # where a store keeps it
        return fields
    if isinstance(value, Link):
        return {
            "id": value.id,
            "client_id": value.client_id,
            "user_id": value.user_id,
            "profile_id": value.profile_id,
            "grant_type": value.grant_type,
            "refresh": value.refresh.key,
            "access": value.access.key if value.access is not None else None,
            "code_key": value.code_key,
            "key_profile": value.key_profile,
            "history": sorted(value.history),
        }
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for f in dataclasses.fields(value):
            if f.name in NOT_KEPT:
                continue
            item = getattr(value, f.name)
            out[f.name] = item.id if isinstance(item, Link) else plain(item)
        return {"type": type(value).__name__, **out}
    if isinstance(value, JWK):
        return {"jwk": value.thumbprint()}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {repr(plain(k)): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, deque)):
        return [plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(repr(plain(v)) for v in value)
    if isinstance(value, bytes):
        return value.hex()
    if value is None or isinstance(value, (str, int, float, bool, date)):
        return value
    if hasattr(value, "public_bytes"):  # a cryptography public key
        return type(value).__name__
    raise TypeError(f"no plain form for {type(value).__name__}")


def state_of(tenant: Tenant) -> dict[str, Any]:
    """Everything a state store keeps of `tenant`, plainly."""
    parts = {name: part.snapshot() for name, part in tenant.stored_parts.items()}  # data already
    tokens = sorted(tenant.store, key=lambda t: t.key)
    return {
        **parts,
        "tokens": [plain(t) for t in tokens],
        "codes": plain(dict(sorted(tenant.tokens.codes.items()))),
        "links": plain(tenant.tokens.links.all()),
        "next_link": tenant.tokens.next_link,
        "journal": [plain(e) for e in tenant.journal],
        "next_seq": tenant.journal.next_seq,
    }


def differences(before: dict[str, Any], after: dict[str, Any], path: str = "") -> list[str]:
    """Where two plain states differ, as readable paths (empty when they are the same)."""
    if isinstance(before, dict) and isinstance(after, dict):
        out = []
        for key in sorted(set(before) | set(after), key=str):
            if key not in before or key not in after:
                out.append(f"{path}/{key}: only {'after' if key in after else 'before'}")
            else:
                out += differences(before[key], after[key], f"{path}/{key}")
        return out
    if isinstance(before, list) and isinstance(after, list):
        if len(before) != len(after):
            return [f"{path}: {len(before)} items before, {len(after)} after"]
        return [
            d
            for i, (b, a) in enumerate(zip(before, after, strict=True))
            for d in differences(b, a, f"{path}[{i}]")
        ]
    return [] if before == after else [f"{path}: {before!r} before, {after!r} after"]


# Every test's sandboxes in a state store, checked after the test ------------------------------------


def install_store_check(directory: Any) -> tuple[Any, Any]:
    """With MOCKWISE_TEST_STORE=1 (see conftest.py): every `Sandbox()` a test makes without a store
    keeps its state in an auditing SQLite store in `directory` (each write checks that no stored
    part changed without a mark); `check()` (after each test) writes what was marked and reopens
    each database beside the live sandbox: any difference, or any change the audit caught, is a
    change some part did not mark, which a crash would lose. Returns `check` and `uninstall`."""
    import itertools
    import weakref
    from pathlib import Path

    from mockwise._domain.sandbox import Sandbox
    from mockwise._store import SqliteStore

    made: list[tuple[weakref.ref[Sandbox], Path]] = []
    numbers = itertools.count()
    original = Sandbox.__init__

    def init(self: Sandbox, *args: Any, store: Any = None, **kwargs: Any) -> None:
        if store is None:
            path = Path(directory) / f"sandbox-{next(numbers)}.db"
            store = SqliteStore(path, audit=True)
            made.append((weakref.ref(self), path))
            weakref.finalize(self, store.close_quietly)
        original(self, *args, store=store, **kwargs)

    Sandbox.__init__ = init  # type: ignore[method-assign]

    def uninstall() -> None:
        Sandbox.__init__ = original  # type: ignore[method-assign]

    def check() -> list[str]:
        problems = []
        for ref, path in made:
            sandbox = ref()
            if sandbox is None:
                continue
            sandbox.flush()
            assert isinstance(sandbox.store, SqliteStore)
            problems += [f"{path.name} {found}" for found in sandbox.store.unmarked]
            again = Sandbox.__new__(Sandbox)
            original(again, seed=sandbox.seed, store=SqliteStore(path))
            try:
                if sorted(again.tenants) != sorted(sandbox.tenants):
                    problems.append(
                        f"{path.name}: {sorted(sandbox.tenants)} came back as {sorted(again.tenants)}"
                    )
                    continue
                for tid, tenant in sandbox.tenants.items():
                    diff = differences(state_of(tenant), state_of(again.tenants[tid]))
                    problems += [f"{path.name} tenant {tid}: {d}" for d in diff[:5]]
            finally:
                assert isinstance(again.store, SqliteStore)
                again.store.close_quietly()
        made.clear()
        return problems

    return check, uninstall
