"""The people and applications a tenant knows: API clients, users, profiles and their balances.

Secrets (client secrets, passwords, registration codes) are kept only as keyed digests
(`Secrets.digest`), compared in constant time, and never rendered.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from mockwise._domain.settings import PSD2_COUNTRIES


class Secrets:
    """Keyed hashing for secrets at rest; one random key per sandbox: HMAC-SHA256 (RFC 2104)."""

    __slots__ = ("_inner", "_key", "_outer")

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or secrets.token_bytes(32)
        # HMAC's two keyed SHA-256 states, made once: every client-authenticated request checks a
        # secret, and `hmac.new` keys them again each time (over half of its cost).
        block = self._key if len(self._key) <= _BLOCK else hashlib.sha256(self._key).digest()
        block = block.ljust(_BLOCK, b"\0")
        self._inner = hashlib.sha256(block.translate(_IPAD))
        self._outer = hashlib.sha256(block.translate(_OPAD))

    @property
    def key(self) -> bytes:
        """The key itself, for a state store to keep (digests made with another key never match)."""
        return self._key

    def digest(self, value: str) -> bytes:
        """`hmac.digest(key, value, "sha256")`, from the states made once."""
        inner = self._inner.copy()
        inner.update(value.encode("utf-8", "surrogatepass"))
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()

    def matches(self, value: str, digest: bytes | None) -> bool:
        return digest is not None and hmac.compare_digest(self.digest(value), digest)


_BLOCK = 64  # SHA-256's block size
_IPAD = bytes(b ^ 0x36 for b in range(256))
_OPAD = bytes(b ^ 0x5C for b in range(256))


@dataclass(slots=True, eq=False)
class ApiClient:
    """A partner's OAuth client: the client id and secret Wise sends at partnership start (Wise
    auth-and-security page)."""

    client_id: str
    secret_digest: bytes
    name: str
    redirect_uris: tuple[str, ...] = ()
    mtls_enforced: bool = False
    secret_revoked: bool = False
    can_create_users: bool = True  # the registration_code grant is a partner feature (§2.6)


class ProfileType(StrEnum):
    PERSONAL = "personal"
    BUSINESS = "business"


@dataclass(slots=True)
class Address:
    first_line: str = ""
    city: str = ""
    post_code: str = ""
    state: str = ""
    country: str = ""  # ISO 3166-1 alpha-2


@dataclass(slots=True)
class Balance:
    id: int
    currency: str
    amount: float = 0.0


@dataclass(slots=True, eq=False)
class Profile:
    """A personal or business profile (reference §11). Only the fields of its type are rendered."""

    id: int
    public_id: str
    user_id: int
    type: ProfileType
    address: Address
    created_at: float
    address_id: int = 0
    # personal
    first_name: str = ""
    last_name: str = ""
    preferred_name: str = ""
    date_of_birth: date | None = None
    phone_number: str = ""
    occupation: str = ""
    # business
    business_name: str = ""
    registration_number: str = ""
    company_type: str = "LIMITED"
    company_role: str = "OWNER"
    description: str = ""
    webpage: str = ""
    category: str = "CONSULTING_IT_BUSINESS_SERVICES"
    sub_category: str = "DESIGN"
    balances: list[Balance] = field(default_factory=list)

    @property
    def full_name(self) -> str:
        if self.type is ProfileType.BUSINESS:
            return self.business_name
        return f"{self.first_name} {self.last_name}".strip()


@dataclass(slots=True, eq=False)
class User:
    """A Wise user: one login (e-mail and password) owning one or more profiles."""

    id: int
    email: str
    signup_email: str  # the registration_code grant needs the original e-mail (§4)
    password_digest: bytes | None
    created_at: float
    date_of_birth: date | None = None
    country: str = "GB"
    first_name: str = ""
    last_name: str = ""
    phone_number: str = ""
    active: bool = True
    two_factor: bool = True  # the sandbox's 2FA code is always 111111 (§1)
    enhanced_security: bool = False
    # user creation over API (§4)
    created_by_client: str | None = None
    registration_code_digest: bytes | None = None
    language: str = "EN"
    reclaimed: bool = False
    profiles: list[int] = field(default_factory=list)

    @property
    def created_over_api(self) -> bool:
        return self.created_by_client is not None

    @property
    def psd2(self) -> bool:
        """EU/UK customers: PSD2 bars personal tokens from statements and funding (Wise
        auth-and-security page)."""
        return self.country.upper() in PSD2_COUNTRIES

    @property
    def name(self) -> str | None:
        full = f"{self.first_name} {self.last_name}".strip()
        return full or None


#: English names of the countries sandbox users are likeliest to live in; Wise writes a name where
#: an address shows `countryName` (a balance statement's account holder). Others show their code.
COUNTRY_NAMES = {
    "AT": "Austria", "AU": "Australia", "BE": "Belgium", "BG": "Bulgaria", "BR": "Brazil",
    "CA": "Canada", "CH": "Switzerland", "CY": "Cyprus", "CZ": "Czechia", "DE": "Germany",
    "DK": "Denmark", "EE": "Estonia", "ES": "Spain", "FI": "Finland", "FR": "France",
    "GB": "United Kingdom", "GR": "Greece", "HK": "Hong Kong", "HR": "Croatia", "HU": "Hungary",
    "IE": "Ireland", "IN": "India", "IS": "Iceland", "IT": "Italy", "JP": "Japan", "LI": "Liechtenstein",
    "LT": "Lithuania", "LU": "Luxembourg", "LV": "Latvia", "MT": "Malta", "MX": "Mexico",
    "MY": "Malaysia", "NL": "Netherlands", "NO": "Norway", "NZ": "New Zealand", "PL": "Poland",
    "PT": "Portugal", "RO": "Romania", "SE": "Sweden", "SG": "Singapore", "SI": "Slovenia",
    "SK": "Slovakia", "US": "United States", "ZA": "South Africa",
}  # fmt: skip


def country_name(code: str) -> str:
    return COUNTRY_NAMES.get(code.upper(), code)
