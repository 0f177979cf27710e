"""A tenant: the unit of isolation, with its own clock, clients, users, tokens and journal.

This is the Python API a test author holds in their head:

    tenant = sandbox.create_tenant()
    tenant.clock.advance(12 * 3600)
    tenant.revoke_access(user, client_id)
    tenant.reclaim(user)

Every operation here is also reachable over HTTP through the control plane.
"""

from __future__ import annotations

import pickle
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from mockwise.domain.certificates import Certificates
from mockwise.domain.clock import Clock
from mockwise.domain.directory import Directory
from mockwise.domain.faults import Faults
from mockwise.domain.fidelity import SANDBOX_OTP, Fidelity
from mockwise.domain.grants import TokenService
from mockwise.domain.jose import JoseKeys
from mockwise.domain.journal import DEFAULT_CAPACITY as DEFAULT_JOURNAL_CAPACITY
from mockwise.domain.journal import Journal
from mockwise.domain.linking import Linking
from mockwise.domain.model import ApiClient, Profile, ProfileType, Secrets, User
from mockwise.domain.ratelimit import RateLimiter
from mockwise.domain.sca import StrongAuth
from mockwise.domain.tokens import EndReason, Token, TokenKind, TokenStore

if TYPE_CHECKING:
    from mockwise.domain.sandbox import Sandbox

UserRef = User | int | str  # a user, its id, or its e-mail


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


class Tenant:
    def __init__(
        self,
        tenant_id: str,
        sandbox: Sandbox,
        fidelity: Fidelity,
        secrets: Secrets,
        journal_capacity: int = DEFAULT_JOURNAL_CAPACITY,
    ) -> None:
        self.id = tenant_id
        self.fidelity = fidelity
        self.clock = Clock()
        self.lock = threading.RLock()
        self.journal = Journal(journal_capacity)
        self.faults = Faults()
        self._sandbox = sandbox
        self.directory = Directory(secrets)
        self.store = TokenStore(bind=lambda key: sandbox._bind_token(key, self), unbind=sandbox._unbind_token)
        self.tokens = TokenService(self.clock, self.directory, self.store, lambda: self.fidelity)
        self.linking = Linking(self)  # the authorize page's sign-ins, 2FA, claims and mailbox
        # Enhanced security (§5, §7, §9): JOSE keys, SCA, rate limits
        self.jose = JoseKeys(self.clock, self.lock)
        self.sca = StrongAuth(self.clock, lambda: self.fidelity, lambda: self.directory, self.lock)
        self.rate_limits = RateLimiter(self.clock, lambda: self.fidelity)
        self.certificates = Certificates(self, lambda: sandbox.pki)  # the Developer Hub's mTLS page
        self._pristine: bytes | None = None

    def __repr__(self) -> str:
        return (
            f"<Tenant {self.id!r}: {len(self.directory.clients)} clients, {len(self.directory.users)} users>"
        )

    # Seeding ---------------------------------------------------------------------------------

    def add_client(
        self,
        client_id: str | None = None,
        client_secret: str | None = None,
        *,
        name: str = "",
        redirect_uris: Iterable[str] = (),
        mtls_enforced: bool = False,
    ) -> ClientCredentials:
        client_id = client_id or f"partner-{secrets.token_hex(6)}"
        client_secret = client_secret or secrets.token_urlsafe(24)
        with self.lock:
            if client_id in self.directory.clients:
                raise ValueError(f"client {client_id!r} already exists")
            self._sandbox._bind_client(client_id, self)  # unique across the sandbox: it routes requests
            client = self.directory.add_client(
                client_id, client_secret, name=name, redirect_uris=redirect_uris, mtls_enforced=mtls_enforced
            )
        return ClientCredentials(client.client_id, client_secret, client.redirect_uris)

    def add_user(
        self,
        email: str,
        password: str | None = None,
        *,
        date_of_birth: date | str | None = None,
        country: str = "GB",
        first_name: str = "",
        last_name: str = "",
        phone_number: str = "",
        two_factor: bool = True,
    ) -> User:
        with self.lock:
            return self.directory.add_user(
                email,
                password,
                created_at=self.clock.now(),
                date_of_birth=_date(date_of_birth),
                country=country,
                first_name=first_name,
                last_name=last_name,
                phone_number=phone_number,
                two_factor=two_factor,
            )

    def add_profile(
        self, user: UserRef, type: ProfileType | str = ProfileType.PERSONAL, **fields: Any
    ) -> Profile:
        with self.lock:
            if "date_of_birth" in fields:
                fields["date_of_birth"] = _date(fields["date_of_birth"])
            return self.directory.add_profile(self.user(user), type, created_at=self.clock.now(), **fields)

    def add_personal_token(self, user: UserRef, token: str | None = None) -> str:
        """A personal API token for `user`, as made on wise.com (seed 000). Returns its value."""
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

    # Lookups ---------------------------------------------------------------------------------

    def user(self, ref: UserRef) -> User:
        if isinstance(ref, User):
            return ref
        if isinstance(ref, int):
            return self.directory.user(ref)
        found = self.directory.by_email(ref)
        if found is None:
            raise LookupError(f"no user with e-mail {ref!r} in this tenant")
        return found

    def client(self, client_id: str) -> ApiClient:
        return self.directory.client(client_id)

    def live_tokens(self) -> list[Token]:
        now = self.clock.now()
        return [t for t in self.store if t.state(now).value == "valid"]

    # Authorization codes (the authorize page's output) ---------------------------------------

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

    def link(
        self,
        authorize_url: str,
        *,
        email: str | None = None,
        password: str | None = None,
        approve: bool = True,
        otp: str = SANDBOX_OTP,
        profile_id: int | None = None,
    ) -> str:
        """A scripted user on the authorize page (§3): logs in, passes 2FA with `otp`, chooses
        `profile_id` (default: the first profile) and approves (or denies). Returns the redirect URL,
        or for a link from the sandbox mailbox the code the page shows ("" when such a link is
        denied: there is nowhere to go back to). The same rules as the pages:
        raises `StepRefused` on a wrong password or 2FA code, `LinkingError` on a bad URL."""
        outcome = self.linking.script(
            authorize_url, email=email, password=password, approve=approve, otp=otp, profile_id=profile_id
        )
        return outcome.redirect or outcome.code or outcome.link_back or ""

    # Scenarios: the ways a token dies early (seed 003, reference §2.5) ----------------------

    def revoke_access(self, user: UserRef, client_id: str | None = None) -> list[Token]:
        """The user revokes a partner's access on wise.com (every partner when `client_id` is None)."""
        uid = self.user(user).id
        return self._revoke(
            EndReason.USER_REVOKED_ACCESS,
            lambda t: (
                t.user_id == uid and t.kind is not TokenKind.PERSONAL and client_id in (None, t.client_id)
            ),
        )

    def enable_enhanced_security(self, user: UserRef) -> list[Token]:
        """The user turns on enhanced security: their partner tokens stop working (seed 003)."""
        owner = self.user(user)
        owner.enhanced_security = True
        return self._revoke(
            EndReason.ENHANCED_SECURITY, lambda t: t.user_id == owner.id and t.kind is not TokenKind.PERSONAL
        )

    def breach(self, client_id: str) -> list[Token]:
        """Wise revokes every token of a client for a suspected breach (seed 003)."""
        self.client(client_id)
        return self._revoke(EndReason.SECURITY_BREACH, lambda t: t.client_id == client_id)

    def change_email(self, user: UserRef, new_email: str) -> list[Token]:
        """The user changes their e-mail at Wise: all tokens to the account are revoked (§2.5).

        Assumption: a user who changed their e-mail on wise.com has taken the account over, so the
        partner's registration code stops working too (the partner must re-link, §2.5)."""
        owner = self.user(user)
        with self.lock:
            self.directory.change_email(owner, new_email)
            owner.reclaimed = owner.created_over_api or owner.reclaimed
        return self._revoke(EndReason.EMAIL_CHANGED, lambda t: t.user_id == owner.id)

    def rotate_secret(self, client_id: str, new_secret: str | None = None) -> str:
        """A new client secret (Developer Hub). The old one stops working at once and the client's
        client-credentials tokens are revoked; users' tokens survive (they belong to the client id)."""
        client = self.client(client_id)
        new_secret = new_secret or secrets.token_urlsafe(24)
        with self.lock:
            client.secret_digest = self.directory.secrets.digest(new_secret)
            client.secret_revoked = False
        self._revoke(
            EndReason.SECRET_ROTATED,
            lambda t: t.client_id == client_id and t.kind is TokenKind.CLIENT_CREDENTIALS,
        )
        return new_secret

    def revoke_secret(self, client_id: str) -> list[Token]:
        """The client secret is revoked: the client cannot authenticate and all its tokens die."""
        client = self.client(client_id)
        client.secret_revoked = True
        return self._revoke(EndReason.SECRET_REVOKED, lambda t: t.client_id == client_id)

    def reclaim(self, user: UserRef) -> list[Token]:
        """The user takes over an account a partner created: the registration code stops working
        (§4); the partner must link through the authorize page from now on."""
        owner = self.user(user)
        owner.reclaimed = True
        if self.fidelity.refresh_survives_reclaim:
            return []
        return self._revoke(
            EndReason.USER_REVOKED_ACCESS,
            lambda t: t.user_id == owner.id and t.kind is not TokenKind.PERSONAL,
        )

    def collect(self) -> int:
        """Forget every token that expired more than `fidelity.expired_token_memory` ago, and expired
        codes, now (issuing tokens also collects a few at a time). Returns how many tokens went."""
        with self.lock:
            return self.tokens.collect()

    def _revoke(self, reason: EndReason, which: Callable[[Token], bool]) -> list[Token]:
        with self.lock:
            return self.tokens.revoke(reason, which)

    # Lifecycle of the tenant itself ----------------------------------------------------------

    def mark_seeded(self) -> None:
        """Remember the directory and personal tokens as they are now; `reset()` returns to them."""
        with self.lock:
            personal = [t for t in self.store if t.kind is TokenKind.PERSONAL]
            self._pristine = pickle.dumps((self.directory, personal), protocol=pickle.HIGHEST_PROTOCOL)
            for part in (self.jose, self.sca, self.rate_limits, self.certificates):
                part.mark_seeded()

    def reset(self) -> None:
        """Back to the state right after seeding: tokens, codes, faults, journal and clock cleared."""
        with self.lock:
            self.tokens.clear()
            self.linking.clear()
            self.journal.clear()
            self.faults.clear()
            self.clock.reset()
            for part in (self.jose, self.sca, self.rate_limits, self.certificates):
                part.reset()
            if self._pristine is None:
                return
            for client_id in self.directory.clients:
                self._sandbox._unbind_client(client_id)
            directory, personal = pickle.loads(self._pristine)  # noqa: S301 - our own bytes
            for client_id in directory.clients:
                self._sandbox._bind_client(client_id, self)
            self.directory = self.tokens.directory = directory
            for token in personal:
                self.store.add(token)

    def close(self) -> None:
        with self.lock:
            self.tokens.clear()
            self.linking.clear()
            for client_id in self.directory.clients:
                self._sandbox._unbind_client(client_id)


def _date(value: date | str | None) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(value)
