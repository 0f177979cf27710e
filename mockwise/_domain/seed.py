"""Seed data: the clients, users, profiles and personal tokens a new tenant starts with.

The default seed is `fixtures/default.json`. The standalone server's `default` tenant takes it as
written (fixed, copy-pasteable credentials); every other tenant gets the same people with fresh
client ids, secrets and personal tokens, so credentials identify their tenant.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from mockwise._domain.model import Address, User
from mockwise._domain.tenant import Tenant

SeedData = dict[str, Any]


@dataclass(slots=True)
class Credentials:
    """What a tenant was seeded with, in the shape of `sandbox.json`. Secrets appear in clear here,
    once, for the caller; the tenant itself keeps only digests."""

    tenant: str = ""
    clients: list[dict[str, Any]] = field(default_factory=list)
    users: list[dict[str, Any]] = field(default_factory=list)
    personal_tokens: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "clients": self.clients,
            "users": self.users,
            "personal_tokens": self.personal_tokens,
        }

    def client(self, index: int = 0) -> dict[str, Any]:
        return self.clients[index]

    def user(self, email_or_index: str | int = 0) -> dict[str, Any]:
        if isinstance(email_or_index, int):
            return self.users[email_or_index]
        return next(u for u in self.users if u["email"] == email_or_index)


def fixtures_dir() -> Path:
    """`fixtures/` in a source checkout; `mockwise/_fixtures` once installed as a wheel."""
    installed = resources.files("mockwise") / "_fixtures"
    if installed.is_dir():
        return Path(str(installed))
    return Path(__file__).resolve().parents[2] / "fixtures"


def load_seed(path: str | Path | None = None) -> SeedData:
    """The seed document at `path` (default: the bundled fixtures); a `SeedError` naming the file
    when it cannot be read, is not JSON, or is not an object."""
    source = Path(path) if path is not None else fixtures_dir() / "default.json"
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SeedError(f"{source}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SeedError(f"{source}: cannot be read ({getattr(exc, 'strerror', None) or exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SeedError(f"{source} is not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(data, dict):
        raise SeedError(f"{source}: a seed is a JSON object with clients and users")
    return data


class SeedError(ValueError):
    """A seed document that cannot be applied; the message says where (`users[1].profiles[0]`) and
    what is wrong there."""


@contextmanager
def _at(where: str) -> Iterator[None]:
    """Name the place in the seed of an error raised while applying it."""
    try:
        yield
    except SeedError as exc:
        raise SeedError(f"{where}.{exc}" if str(exc)[:1].isalpha() else f"{where}{exc}") from exc
    except KeyError as exc:
        raise SeedError(f"{where}: missing {exc.args[0]!r}") from exc
    except (TypeError, ValueError) as exc:
        raise SeedError(f"{where}: {exc}") from exc


def apply_seed(tenant: Tenant, data: SeedData, *, fixed: bool) -> Credentials:
    """Create the seed's clients, users, profiles and personal tokens in `tenant`.

    `fixed`: use the seed's client ids, secrets and tokens as written (the standalone default
    tenant); otherwise derive unique ids and fresh secrets."""
    creds = Credentials(tenant=tenant.id)
    client_ids: dict[str, str] = {}
    for index, spec in enumerate(_list(data, "clients")):
        with _at(f"clients[{index}]"):
            seed_id = _str(spec, "client_id", required=True)
            client_id = seed_id if fixed else f"{seed_id}-{tenant.id}"
            secret = _str(spec, "client_secret") if fixed else None
            made = tenant.add_client(
                client_id,
                secret or secrets.token_urlsafe(24),
                name=_str(spec, "name") or seed_id,
                redirect_uris=[str(u) for u in spec.get("redirect_uris", [])],
                mtls_enforced=bool(spec.get("mtls_enforced", False)),
            )
            client_ids[seed_id] = client_id
            creds.clients.append(made.as_json() | {"name": _str(spec, "name") or seed_id})
    for index, spec in enumerate(_list(data, "users")):
        with _at(f"users[{index}]"):
            creds.users.append(_seed_user(tenant, spec, client_ids, creds, fixed))
    settings = data.get("settings", {})
    if not isinstance(settings, dict):
        raise SeedError('\'settings\' must be an object of dotted keys, e.g. {"sca.pin": "9876"}')
    if settings:
        with _at("settings"):
            tenant.configure(settings)
    tenant.mark_seeded()
    return creds


def _seed_user(
    tenant: Tenant, spec: dict[str, Any], client_ids: dict[str, str], creds: Credentials, fixed: bool
) -> dict[str, Any]:
    email = _str(spec, "email", required=True)
    password = _str(spec, "password")
    creator = _str(spec, "created_by_client")
    if creator:
        if creator not in client_ids:
            raise ValueError(f"user {email}: created_by_client {creator!r} is not a client of this seed")
        registration_code = _str(spec, "registration_code", required=True)
        user = tenant.create_user_over_api(tenant.client(client_ids[creator]), email, registration_code)
        user.password_digest = tenant.directory.secrets.digest(password) if password else None
        user.date_of_birth = None
    else:
        registration_code = None
        user = tenant.add_user(
            email,
            password or None,
            date_of_birth=spec.get("date_of_birth"),
            country=_str(spec, "country") or "GB",
            first_name=_str(spec, "first_name"),
            last_name=_str(spec, "last_name"),
            phone_number=_str(spec, "phone_number"),
            two_factor=bool(spec.get("two_factor", True)),
        )
    out: dict[str, Any] = {
        "id": user.id,
        "email": user.email,
        "password": password,
        "date_of_birth": user.date_of_birth.isoformat() if user.date_of_birth else None,
        "country": user.country,
        "profiles": [],
    }
    if creator:
        out["created_by_client"] = client_ids[creator]
        out["registration_code"] = registration_code
    for index, pspec in enumerate(spec.get("profiles", [])):
        with _at(f"profiles[{index}]"):
            out["profiles"].append(_seed_profile(tenant, user, dict(pspec)))
    for index, tspec in enumerate(spec.get("personal_tokens", [])):
        with _at(f"personal_tokens[{index}]"):
            value = tenant.add_personal_token(user, _str(tspec, "token") if fixed else None)
        creds.personal_tokens.append({"token": value, "user_id": user.id, "email": user.email})
    return out


def _seed_profile(tenant: Tenant, user: User, pspec: dict[str, Any]) -> dict[str, Any]:
    kind = pspec.pop("type", "personal")
    address = Address(**pspec.pop("address", {}) or {"country": user.country})
    balances = [(b["currency"], float(b.get("amount", 0))) for b in pspec.pop("balances", [])]
    profile = tenant.add_profile(user, kind, address=address, balances=balances, **pspec)
    return {
        "id": profile.id,
        "type": profile.type.value,
        "name": profile.full_name,
        "balances": [{"id": b.id, "currency": b.currency} for b in profile.balances],
    }


def _list(data: SeedData, key: str) -> list[dict[str, Any]]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise SeedError(f"{key!r} must be a list of objects")
    return value


def _str(spec: dict[str, Any], key: str, required: bool = False) -> str:
    value = spec.get(key)
    if value is None:
        if required:
            raise ValueError(f"missing {key!r}")
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{key!r} must be a string")
    return value
