"""One vocabulary for a tenant, in this process and over HTTP.

`TenantHandle` is what a test needs of a tenant: its users, clients, faults, certificates, settings,
clock, scenarios, scripted user, journal and reset. Three handles keep to it, with the same names
and the same shapes: `mockwise._domain.tenant.Tenant` (a tenant in this process),
`mockwise.testing._client.TenantClient` (a tenant over the control plane, in this process or in a
`mockwise serve` elsewhere) and the pytest fixture's `WiseSandbox` (a `TenantClient` with the
session server's URLs and files). mypy checks all three against the protocol (the conformance
function at the end), so a test written against it runs against any of them.

What a handle answers is described by views, protocols of read-only properties: the domain's own
objects (`User`, `Fault`…) satisfy them as they are, and over HTTP the frozen records of
`mockwise.testing._records` do. Certificates and settings are the domain's own types on every
handle. The scenarios are declared once, in `mockwise._domain.scenarios.ScenarioHandle`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol, Unpack

from mockwise._domain.certificates import Certificate, Variant
from mockwise._domain.directory import ClientDetails, UserDetails
from mockwise._domain.entries import Entry
from mockwise._domain.faults import FaultKind
from mockwise._domain.linking import LinkOptions
from mockwise._domain.model import ProfileType
from mockwise._domain.scenarios import ScenarioHandle, UserRef
from mockwise._domain.settings import Settings

if TYPE_CHECKING:
    from mockwise._domain.tenant import Tenant
    from mockwise._pki import KeyType
    from mockwise.testing._client import TenantClient
    from mockwise.testing._server import WiseSandbox

__all__ = [
    "BalanceView",
    "CertificatesHandle",
    "ClientView",
    "ClockHandle",
    "FaultView",
    "FaultsHandle",
    "IssuedView",
    "JournalHandle",
    "ProfileView",
    "TenantHandle",
    "UserRef",
    "UserView",
]


# What handles answer ----------------------------------------------------------------------------


class BalanceView(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def currency(self) -> str: ...
    @property
    def amount(self) -> float: ...


class ProfileView(Protocol):
    """A personal or business profile."""

    @property
    def id(self) -> int: ...
    @property
    def user_id(self) -> int: ...
    @property
    def type(self) -> ProfileType: ...
    @property
    def full_name(self) -> str: ...
    @property
    def date_of_birth(self) -> date | None: ...
    @property
    def balances(self) -> Sequence[BalanceView]: ...


class UserView(Protocol):
    """A Wise user (never their password or registration code: those stay with whoever chose them)."""

    @property
    def id(self) -> int: ...
    @property
    def email(self) -> str: ...
    @property
    def country(self) -> str: ...
    @property
    def date_of_birth(self) -> date | None: ...
    @property
    def two_factor(self) -> bool: ...
    @property
    def enhanced_security(self) -> bool: ...
    @property
    def created_by_client(self) -> str | None: ...
    @property
    def created_over_api(self) -> bool: ...
    @property
    def reclaimed(self) -> bool: ...
    @property
    def profiles(self) -> Sequence[int]:
        """The ids of the user's profiles, oldest first."""


class ClientView(Protocol):
    """A new API client's credentials: the secret in clear, this once."""

    @property
    def client_id(self) -> str: ...
    @property
    def client_secret(self) -> str: ...
    @property
    def redirect_uris(self) -> Sequence[str]: ...


class FaultView(Protocol):
    """An armed fault (`mockwise._domain.faults`): its scope and how often it fired."""

    @property
    def id(self) -> str: ...
    @property
    def kind(self) -> FaultKind: ...
    @property
    def path(self) -> str | None: ...
    @property
    def method(self) -> str | None: ...
    @property
    def grant_type(self) -> str | None: ...
    @property
    def client_id(self) -> str | None: ...
    @property
    def times(self) -> int | None:
        """How many times it fires (None: always)."""

    @property
    def probability(self) -> float: ...
    @property
    def status(self) -> int | None: ...
    @property
    def retry_after(self) -> int: ...
    @property
    def seconds(self) -> float: ...
    @property
    def seed(self) -> int: ...
    @property
    def fired(self) -> int: ...
    @property
    def exhausted(self) -> bool: ...


class IssuedView(Protocol):
    """A key and certificate the sandbox made (the key exists this once)."""

    @property
    def fingerprint(self) -> str: ...
    @property
    def cert_pem(self) -> str: ...
    @property
    def key_pem(self) -> str: ...
    @property
    def certificate(self) -> Certificate | None:
        """Its Developer Hub record; None for a variant no client owns (other_ca, other_client)."""


# What handles hold ------------------------------------------------------------------------------


class ClockHandle(Protocol):
    def now(self) -> float: ...

    def advance(self, seconds: float = 0, *, minutes: float = 0, hours: float = 0) -> float:
        """Move the tenant's time by `seconds` + `minutes` + `hours` (back, if negative); the new
        instant."""

    def set(self, at: float | str) -> float: ...

    def freeze(self) -> float: ...

    def unfreeze(self) -> float: ...


class JournalHandle(Protocol):
    def select(self, *, since: int = 0, **match: Any) -> list[Entry]:
        """Entries after sequence number `since` whose fields equal `match` (`path` matches the
        path as sent or as routed)."""

    def assert_request_made(self, times: int | None = None, **match: Any) -> list[Entry]: ...

    def assert_no_request(self, **match: Any) -> None: ...

    def clear(self) -> None: ...


class FaultsHandle(Protocol):
    def add(self, kind: FaultKind | str, **scope: Any) -> FaultView:
        """Arm a fault: `faults.add("rate_limited", path="/oauth/token", times=2, retry_after=1)`."""

    def remove(self, fault_id: str) -> None: ...

    def clear(self) -> None: ...

    def __iter__(self) -> Iterator[FaultView]:
        """The armed faults, in the order they are tried."""


class CertificatesHandle(Protocol):
    """The Developer Hub's certificate page (reference §6)."""

    def issue(
        self,
        client_id: str,
        *,
        name: str | None = None,
        key_type: KeyType = "ec",
        variant: Variant | None = None,
    ) -> IssuedView:
        """A new key and client certificate from the sandbox CA, or a `variant` for a negative test."""

    def sign(self, client_id: str, csr_pem: str, *, name: str | None = None) -> Certificate: ...

    def register(self, client_id: str, cert_pem: str, *, name: str | None = None) -> Certificate: ...

    def revoke(self, fingerprint: str, client_id: str | None = None) -> Certificate: ...

    def enforce(self, client_id: str, enforced: bool = True) -> None:
        """Whether the client's calls must come over mTLS."""

    def of_client(self, client_id: str) -> list[Certificate]: ...

    def __iter__(self) -> Iterator[Certificate]: ...


class TenantHandle(ScenarioHandle, Protocol):
    """What a test holds: one tenant, wherever it lives. The scenarios come from `ScenarioHandle`."""

    @property
    def id(self) -> str: ...
    @property
    def clock(self) -> ClockHandle: ...
    @property
    def journal(self) -> JournalHandle: ...
    @property
    def faults(self) -> FaultsHandle: ...
    @property
    def certificates(self) -> CertificatesHandle: ...
    @property
    def settings(self) -> Settings:
        """The tenant's settings now."""

    def configure(self, changes: Mapping[str, Any]) -> Settings:
        """Change settings by dotted key (`{"oauth.refresh_token_rotation": True}`), all or nothing;
        the settings now."""

    def reset(self) -> None:
        """Back to the seeded state: tokens, codes, faults and journal go, the clock returns to the
        system time, settings to the seeded ones."""

    def add_client(
        self, client_id: str | None = None, client_secret: str | None = None, **details: Unpack[ClientDetails]
    ) -> ClientView:
        """An API client (a partner); random id and secret unless given; `details` are
        `ClientDetails`."""

    def add_user(self, email: str, password: str | None = None, **details: Unpack[UserDetails]) -> UserView:
        """A Wise user (an existing Wise customer); `details` are `UserDetails`."""

    def user(self, ref: UserRef) -> UserView:
        """A user by id, e-mail, or as another call answered them."""

    def add_profile(
        self, user: UserRef, type: ProfileType | str = ProfileType.PERSONAL, **fields: Any
    ) -> ProfileView:
        """A personal or business profile for `user`; `fields` as `Directory.add_profile` takes them."""

    def add_personal_token(self, user: UserRef) -> str:
        """A personal API token for `user`, as made on wise.com; its value."""

    def link(self, authorize_url: str, email: str | None = None, **options: Unpack[LinkOptions]) -> str:
        """The scripted user on the authorize page: the redirect back (or the code a mailbox link
        shows)."""


if TYPE_CHECKING:  # mypy checks that every handle keeps to the protocol

    def _in_process(tenant: Tenant) -> TenantHandle:
        return tenant

    def _over_http(tenant: TenantClient) -> TenantHandle:
        return tenant

    def _in_pytest(tenant: WiseSandbox) -> TenantHandle:
        return tenant
