"""What the control plane answers, as typed records: the HTTP side of the views in `_handles.py`.

A record is frozen, parsed from the control plane's JSON, and has the attributes the domain's own
object has (`UserRecord` those of `User`, `FaultRecord` those of `Fault`…), so a test reads
`handle.add_user(...).id` the same way in this process and over HTTP. Certificates are parsed into
the domain's own `Certificate`.

Before 0.2.0 these calls answered the JSON itself; for one release a record still answers
`record["key"]` (and `record.get("key")`) from the JSON it was parsed from. That goes in 0.3.0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from mockwise._domain.certificates import Certificate
from mockwise._domain.clock import to_timestamp
from mockwise._domain.faults import FaultKind
from mockwise._domain.model import ProfileType

JSON = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Record:
    json: JSON = field(default_factory=dict, repr=False, compare=False, kw_only=True)
    """The control plane's answer, as it came (deprecated: read the attributes)."""

    def __getitem__(self, key: str) -> Any:
        return self.json[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.json.get(key, default)


@dataclass(frozen=True, slots=True)
class BalanceRecord(Record):
    id: int
    currency: str
    amount: float = 0.0


@dataclass(frozen=True, slots=True)
class ProfileRecord(Record):
    id: int
    user_id: int
    type: ProfileType
    full_name: str
    date_of_birth: date | None = None
    balances: tuple[BalanceRecord, ...] = ()

    @classmethod
    def of(cls, data: JSON) -> ProfileRecord:
        return cls(
            data["id"],
            data["user_id"],
            ProfileType(data["type"]),
            data["name"],
            _date(data.get("date_of_birth")),
            tuple(
                BalanceRecord(b["id"], b["currency"], b.get("amount", 0.0), json=b) for b in data["balances"]
            ),
            json=data,
        )


@dataclass(frozen=True, slots=True)
class UserRecord(Record):
    id: int
    email: str
    country: str = "GB"
    date_of_birth: date | None = None
    two_factor: bool = True
    enhanced_security: bool = False
    created_by_client: str | None = None
    reclaimed: bool = False
    profiles: tuple[int, ...] = ()
    password: str | None = field(default=None, repr=False)
    """The password, when this client chose or seeded it (the sandbox keeps only a digest)."""
    registration_code: str | None = field(default=None, repr=False)
    """The registration code a partner-created user was seeded with, when this client seeded it."""

    @property
    def created_over_api(self) -> bool:
        return self.created_by_client is not None

    @classmethod
    def of(cls, data: JSON, seeded: JSON | None = None) -> UserRecord:
        """A user from the control plane's `data`, with the secrets this client `seeded` it with."""
        known = seeded or {}
        return cls(
            data["id"],
            data["email"],
            data["country"],
            _date(data.get("date_of_birth")),
            data["two_factor"],
            data["enhanced_security"],
            data["created_by_client"],
            data["reclaimed"],
            tuple(p["id"] for p in data["profiles"]),
            known.get("password"),
            known.get("registration_code"),
            json=known | data,
        )


@dataclass(frozen=True, slots=True)
class ClientRecord(Record):
    client_id: str
    client_secret: str = field(repr=False)
    redirect_uris: tuple[str, ...] = ()

    @classmethod
    def of(cls, data: JSON) -> ClientRecord:
        return cls(data["client_id"], data["client_secret"], tuple(data["redirect_uris"]), json=data)


@dataclass(frozen=True, slots=True)
class FaultRecord(Record):
    id: str
    kind: FaultKind
    path: str | None = None
    method: str | None = None
    grant_type: str | None = None
    client_id: str | None = None
    event_type: str | None = None  # the webhook_* kinds' scope (§8.9)
    times: int | None = 1
    probability: float = 1.0
    status: int | None = None
    retry_after: int = 60
    retry_after_form: str | None = None  # seconds, http-date or absent (None: the kind's own)
    clock_offset: float = 0.0
    seconds: float = 1.0
    seed: int = 0
    fired: int = 0
    exhausted: bool = False

    @classmethod
    def of(cls, data: JSON) -> FaultRecord:
        return cls(**{**data, "kind": FaultKind(data["kind"])}, json=data)


@dataclass(frozen=True, slots=True)
class IssuedRecord(Record):
    """A key and certificate the sandbox made, with its record (None for other_ca, other_client)."""

    fingerprint: str
    cert_pem: str
    key_pem: str = field(repr=False)
    certificate: Certificate | None = None
    variant: str | None = None

    @classmethod
    def of(cls, data: JSON) -> IssuedRecord:
        record = certificate_of(data) if data.get("client_id") else None
        return cls(
            data["fingerprint"],
            data["certificate"],
            data["private_key"],
            record,
            data.get("variant"),
            json=data,
        )


def certificate_of(data: JSON) -> Certificate:
    """A Developer Hub record from the control plane's JSON (its PEM, when the answer has it)."""
    return Certificate(
        fingerprint=data["fingerprint"],
        client_id=data["client_id"],
        name=data["name"],
        serial=int(data["serial"], 16),
        subject=data["subject"],
        not_before=to_timestamp(data["not_before"]),
        not_after=to_timestamp(data["not_after"]),
        origin=data["origin"],
        created_at=to_timestamp(data["created_at"]),
        pem=data.get("certificate", ""),
        revoked_at=to_timestamp(data["revoked_at"]) if data.get("revoked_at") else None,
    )


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None
