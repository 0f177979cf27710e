"""A tenant: the unit of isolation, with its own clock, clients, users, tokens and journal.

This is the Python API a test author holds in their head:

    tenant = sandbox.create_tenant()
    tenant.clock.advance(12 * 3600)
    tenant.revoke_access(user, client_id)
    tenant.reclaim(user)

Every operation here is also reachable over HTTP through the control plane, with the same names
and shapes (`mockwise.testing._client.TenantClient`; both keep to `mockwise.testing.TenantHandle`).
The scenarios are declared in `mockwise._domain.scenarios.ScenarioHandle`. The tenant is a
composition: one `TenantContext` (clock, lock, settings, directory, token store) shared by its
services, each a `Part` with the same reset rule.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Unpack

from mockwise._domain.certificates import NO_TLS, Certificates, Connection
from mockwise._domain.context import Part, Routes, TenantContext
from mockwise._domain.directory import ClientDetails, UserDetails, to_date
from mockwise._domain.errors import FieldError, ValidationError
from mockwise._domain.faults import Faults
from mockwise._domain.grants import Issued, TokenService
from mockwise._domain.jose import JoseKeys
from mockwise._domain.journal import DEFAULT_CAPACITY as DEFAULT_JOURNAL_CAPACITY
from mockwise._domain.journal import Journal
from mockwise._domain.linking import Linking, LinkOptions
from mockwise._domain.model import ApiClient, Profile, ProfileType, Secrets, User
from mockwise._domain.ratelimit import RateLimiter
from mockwise._domain.records import JSON, RecordError, from_data
from mockwise._domain.sca import StrongAuth
from mockwise._domain.scenarios import ScenarioHandle, Scenarios, UserRef
from mockwise._domain.settings import Settings
from mockwise._domain.store import NO_LEDGER, Ledger
from mockwise._domain.tokens import Token
from mockwise._domain.webhooks import Webhooks

if TYPE_CHECKING:
    from mockwise._pki import SandboxPKI

__all__ = ["ClientCredentials", "Tenant", "UserRef"]


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "redirect_uris": list(self.redirect_uris),
        }


class Tenant(ScenarioHandle):
    def __init__(
        self,
        tenant_id: str,
        routes: Routes,
        pki: Callable[[], SandboxPKI],
        *,
        settings: Settings | None = None,
        secrets: Secrets | None = None,
        journal_capacity: int = DEFAULT_JOURNAL_CAPACITY,
        ledger: Ledger = NO_LEDGER,
    ) -> None:
        context = TenantContext(tenant_id, routes, secrets or Secrets(), settings, ledger=ledger)
        self.context = context
        # the context's pieces, for the Python API (a context never replaces them)
        self.id, self.clock, self.lock = context.id, context.clock, context.lock
        self.directory, self.store = context.directory, context.store
        self.journal = Journal(journal_capacity, ledger)
        self.faults = Faults(ledger)
        self.tokens = TokenService(context)
        self.scenarios = Scenarios(context, self.tokens)
        self.linking = Linking(context, self.tokens, self.scenarios)  # the authorize page's state
        # Enhanced security (§5, §6, §7, §9): SCA, JOSE keys, rate limits, client certificates
        self.sca = StrongAuth(context)
        self.jose = JoseKeys(context)
        self.rate_limits = RateLimiter(context)
        self.certificates = Certificates(context, pki)  # the Developer Hub's mTLS page
        # The other direction (§8): subscriptions and the notifications the sandbox sends
        self.webhooks = Webhooks(context, self.faults, self.journal.record)
        marked = context.clock.changed

        def clock_moved() -> None:  # retries wait on this clock: moving it may make some due
            marked()
            self.webhooks.clock_moved()

        context.clock.changed = clock_moved
        self._pki = pki
        self._seeded: JSON = None

    @property
    def parts(self) -> dict[str, Part]:
        """Every piece of the tenant's state, by name: what `reset` restores and a store keeps."""
        return {
            "context": self.context,
            "tokens": self.tokens,
            "linking": self.linking,
            "sca": self.sca,
            "jose": self.jose,
            "rate_limits": self.rate_limits,
            "certificates": self.certificates,
            "faults": self.faults,
            "journal": self.journal,
            "webhooks": self.webhooks,
        }

    @property
    def stored_parts(self) -> dict[str, Part]:
        """What a state store saves whole when marked changed (`mockwise._domain.store`): the small,
        rarely-changing state. Tokens, codes, links and journal entries it keeps row by row."""
        context, linking, jose = self.context, self.linking, self.jose
        return {
            "settings": _Stored(lambda: context.settings.as_dict(), self._put_settings),
            "clock": context.clock,
            "directory": context.directory,
            "linking": _Stored(linking.kept, linking.restore),
            "sca": self.sca,
            "jose": jose,
            "jose_keys": _Stored(jose.own_keys, jose.restore_own_keys),
            "certificates": self.certificates,
            "faults": self.faults,
            "webhooks": self.webhooks,
            "journal": _Stored(lambda: self.journal.capacity, self._resize_journal),
            "seeded": _Stored(lambda: self._seeded, self._put_seeded),
        }

    def _put_settings(self, settings: JSON) -> None:
        self.context.put_settings(Settings.from_data(settings) if settings is not None else None)

    def _resize_journal(self, capacity: JSON) -> None:
        if capacity is not None:
            try:
                self.journal.resize(from_data(int, capacity, "journal"))
            except ValueError as exc:
                raise RecordError(f"journal: {exc}") from None

    def _put_seeded(self, seeded: JSON) -> None:
        if seeded is not None:  # read back from a state store: a reset must not be where it fails
            Tenant(self.id, _NO_ROUTES, self._pki).restore(seeded)
        self._seeded = seeded

    # The context's pieces, for the Python API -------------------------------------------------

    @property
    def settings(self) -> Settings:
        """The tenant's settings (`mockwise._domain.settings`): immutable; assign a changed copy."""
        return self.context.settings

    @settings.setter
    def settings(self, settings: Settings) -> None:
        if not isinstance(settings, Settings):
            raise TypeError("settings are a mockwise._domain.settings.Settings")
        self.context.settings = settings

    def configure(self, changes: Mapping[str, Any]) -> Settings:
        """Change settings by dotted key (`{"oauth.refresh_token_rotation": True}`); returns them."""
        with self.lock:
            self.context.settings = self.context.settings.apply(changes)
            return self.context.settings

    def __repr__(self) -> str:
        return (
            f"<Tenant {self.id!r}: {len(self.directory.clients)} clients, {len(self.directory.users)} users>"
        )

    # Seeding ---------------------------------------------------------------------------------

    def add_client(
        self, client_id: str | None = None, client_secret: str | None = None, **details: Unpack[ClientDetails]
    ) -> ClientCredentials:
        """An API client (a partner); random id and secret unless given; `details` are
        `ClientDetails`. The secret is answered in clear, this once."""
        client_id = client_id if client_id is not None else f"partner-{secrets.token_hex(6)}"
        client_secret = client_secret or secrets.token_urlsafe(24)
        with self.lock:
            client = self.directory.add_client(client_id, client_secret, **details)
        return ClientCredentials(client.client_id, client_secret, client.redirect_uris)

    def add_user(self, email: str, password: str | None = None, **details: Unpack[UserDetails]) -> User:
        """A Wise user (an existing Wise customer); `details` are `UserDetails`."""
        with self.lock:
            return self.directory.add_user(email, password, created_at=self.clock.now(), **details)

    def add_profile(
        self, user: UserRef, type: ProfileType | str = ProfileType.PERSONAL, **fields: Any
    ) -> Profile:
        with self.lock:
            if "date_of_birth" in fields:
                fields["date_of_birth"] = to_date(fields["date_of_birth"])
            return self.directory.add_profile(self.user(user), type, created_at=self.clock.now(), **fields)

    def add_personal_token(self, user: UserRef, token: str | None = None) -> str:
        """A personal API token for `user`, as made on wise.com (§5.1). Returns its value."""
        with self.lock:
            return self.tokens.personal_token(self.user(user), token)

    def create_user_over_api(
        self, client: ApiClient, email: str, registration_code: str, language: str = "EN"
    ) -> User:
        """User creation over API (§4): the partner chose `registration_code` for the grant."""
        with self.lock:
            return self.directory.add_user(
                email,
                None,
                created_at=self.clock.now(),
                created_by_client=client.client_id,
                registration_code=registration_code,
                language=language,
            )

    def sign_up(
        self, client: ApiClient, email: str, registration_code: str, language: str, *, send_email: bool
    ) -> User:
        """`POST /v1/user/signup/registration_code` once its input is valid (§4): a new user, or
        409 NOT_UNIQUE for a known e-mail, after sending that user a link to approve the partner
        when `sendAuthorizationCodeAsEmail` asks for it (§4, the e-mail flow)."""
        with self.lock:
            existing = self.directory.by_email(email)
            if existing is None:
                return self.create_user_over_api(client, email, registration_code, language)
            if send_email:
                self.linking.send_authorization_email(client, existing)
        raise ValidationError(
            [
                FieldError(
                    "NOT_UNIQUE",
                    "You're already a member. Please login",
                    "email",
                    ["email", "class com.transferwise.fx.api.ApiRegisterCommand", email],
                )
            ],
            409,
        )

    # Lookups ---------------------------------------------------------------------------------

    def user(self, ref: UserRef) -> User:
        return self.scenarios.user(ref)

    def client(self, client_id: str) -> ApiClient:
        return self.directory.client(client_id)

    def live_tokens(self) -> list[Token]:
        return self.store.live(self.clock.now())

    # Grants ----------------------------------------------------------------------------------

    def grant(
        self, client: ApiClient, grant_type: str, params: dict[str, str], connection: Connection = NO_TLS
    ) -> Issued:
        """One of the four grants of `POST /oauth/token` for an authenticated `client` (§2), over
        `connection` (an access token issued over mTLS is bound to its certificate, if asked)."""
        with self.lock:
            issued = self.tokens.grant(client, grant_type, params)
            self.certificates.bind(issued.access, connection)  # RFC 8705, with `mtls.token_binding`
            return issued

    def issue_code(
        self, client_id: str, redirect_uri: str, user: UserRef, profile: Profile | int | None = None
    ) -> str:
        """An authorization code, as the authorize page would redirect with (§3)."""
        with self.lock:
            client = self.client(client_id)
            if redirect_uri not in client.redirect_uris:
                raise ValueError(f"{redirect_uri!r} is not a redirect URI registered for {client_id!r}")
            owner = self.user(user)
            chosen = self.directory.profile(profile) if isinstance(profile, int) else profile
            if chosen is not None and chosen.user_id != owner.id:
                raise ValueError(f"profile {chosen.id} does not belong to user {owner.id}")
            return self.tokens.issue_code(client, redirect_uri, owner, chosen)

    def link(self, authorize_url: str, email: str | None = None, **options: Unpack[LinkOptions]) -> str:
        """A scripted user on the authorize page (§3): logs in as `email`, passes 2FA, chooses a
        profile and approves or denies (`LinkOptions`). Returns the redirect URL, or for a link from
        the sandbox mailbox the code the page shows ("" when such a link is denied: there is
        nowhere to go back to). The same rules as the pages: raises `StepRefused` on a wrong
        password or 2FA code, `LinkingError` on a bad URL."""
        outcome = self.linking.script(authorize_url, email, **options)
        return outcome.redirect or outcome.code or outcome.link_back or ""

    # Scenarios: the ways a token dies early (reference §2.5), declared in `ScenarioHandle`.

    def _run_scenario(self, name: str, params: Mapping[str, Any]) -> list[str] | str:
        outcome: list[Token] | str = getattr(self.scenarios, name)(**params)
        return outcome if isinstance(outcome, str) else [t.id for t in outcome]

    def transfer_funded(self, transfer_id: int, profile: Profile, client_id: str | None) -> None:
        """A transfer was funded from the profile's balance (§5.5): it moves to `processing`, and
        the subscriptions that listen hear of it (`transfers#state-change`, §8.3)."""
        self.webhooks.transfer_funded(transfer_id, profile.id, client_id)

    def collect(self) -> int:
        """Forget every token that expired more than `oauth.expired_token_memory` ago, and expired
        codes, now (issuing tokens also collects a few at a time). Returns how many tokens went."""
        with self.lock:
            return self.tokens.collect()

    # Lifecycle of the tenant itself ----------------------------------------------------------

    def snapshot(self) -> JSON:
        """The whole tenant's state as data: every part's snapshot, by name (`restore` takes it back)."""
        with self.lock:
            return {name: part.snapshot() for name, part in self.parts.items()}

    def restore(self, snapshot: JSON) -> None:
        """Every part back to its state in `snapshot` (None: empty). RecordError, before anything
        changes, for data that is not a tenant's snapshot."""
        state = _parts_of(snapshot)
        with self.lock:
            for name, part in self.parts.items():
                part.restore(state.get(name))

    def mark_seeded(self) -> None:
        """Remember the tenant as it is now (settings included); `reset()` returns to it."""
        self._seeded = self.snapshot()
        self.context.changed("seeded")

    def reset(self) -> None:
        """Back to the state right after seeding: every part restores its seeded snapshot, so
        tokens, codes, sign-ins, faults and the journal go, the clock returns to system time and
        settings return to the seeded ones."""
        self.restore(self._seeded)

    def close(self) -> None:
        with self.lock:
            self.tokens.clear()
            self.linking.clear()
            self.directory.close()


@dataclass(frozen=True, slots=True)
class _Stored:
    """A `Part` made of two functions: how a state store sees a piece of state that is not one."""

    snapshot: Callable[[], Any]
    restore: Callable[[Any], None]


def _parts_of(snapshot: JSON) -> dict[str, JSON]:
    state = from_data(dict[str, Any], snapshot, "seeded") if snapshot is not None else {}
    unknown = state.keys() - _PART_NAMES
    if unknown:
        raise RecordError(f"seeded: a tenant has no part {sorted(unknown)[0]!r}")
    return state


_PART_NAMES = frozenset(
    {
        "context",
        "tokens",
        "linking",
        "sca",
        "jose",
        "rate_limits",
        "certificates",
        "faults",
        "journal",
        "webhooks",
    }
)


class _NoRoutes:
    """Routes for a tenant no request reaches (a snapshot checked by restoring it)."""

    def bind_client(self, client_id: str) -> None:
        pass

    def unbind_client(self, client_id: str) -> None:
        pass

    def bind_token(self, key: str) -> None:
        pass

    def unbind_token(self, key: str) -> None:
        pass


_NO_ROUTES = _NoRoutes()
