"""Scenarios: the ways a token dies early on Wise, on demand (reference §2.5, §4).

`SCENARIOS` is the one list of them. The Python API (`Tenant`), the control plane's
`POST …/scenarios/{name}` (its route, parameters and OpenAPI enum) and the HTTP client
(`mockwise.testing._client.TenantClient`) all take it from here.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from mockwise._domain.context import TenantContext
from mockwise._domain.grants import TokenService
from mockwise._domain.model import User
from mockwise._domain.tokens import EndReason, Token, TokenKind

UserRef = User | int | str  # a user, its id, or its e-mail


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    kind: type | tuple[type, ...]
    required: bool = True
    doc: str = ""


USER = Param("user", (int, str), doc="a user id or e-mail")
CLIENT = Param("client_id", str)


@dataclass(frozen=True, slots=True)
class Scenario:
    """One scenario: its name on the control plane, its method name in Python, its parameters."""

    name: str
    method: str
    params: tuple[Param, ...]
    doc: str


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "revoke-access",
            "revoke_access",
            (USER, Param("client_id", str, required=False, doc="every partner when absent")),
            "the user revokes a partner's access on wise.com",
        ),
        Scenario(
            "enhanced-security",
            "enable_enhanced_security",
            (USER,),
            "the user enables enhanced security: their partner tokens stop working",
        ),
        Scenario("breach", "breach", (CLIENT,), "Wise revokes a client's tokens for a suspected breach"),
        Scenario(
            "change-email",
            "change_email",
            (USER, Param("email", str)),
            "the user changes their e-mail: all their tokens die",
        ),
        Scenario(
            "rotate-secret",
            "rotate_secret",
            (CLIENT, Param("client_secret", str, required=False, doc="a new secret, or a random one")),
            "a new client secret (returned); the old one stops working",
        ),
        Scenario("revoke-secret", "revoke_secret", (CLIENT,), "the client secret is revoked"),
        Scenario(
            "reclaim",
            "reclaim",
            (USER,),
            "the user reclaims a partner-created account: its registration code dies",
        ),
    )
}


class Scenarios:
    """The scenarios of one tenant, acting on its directory and tokens."""

    def __init__(self, context: TenantContext, tokens: TokenService) -> None:
        self._context = context
        self._tokens = tokens

    def user(self, ref: UserRef) -> User:
        directory = self._context.directory
        if isinstance(ref, User):
            return ref
        if isinstance(ref, int):
            return directory.user(ref)
        found = directory.by_email(ref)
        if found is None:
            raise LookupError(f"no user with e-mail {ref!r} in this tenant")
        return found

    def revoke_access(self, user: UserRef, client_id: str | None = None) -> list[Token]:
        """The user revokes a partner's access on wise.com (every partner when `client_id` is None)."""
        uid = self.user(user).id
        return self._revoke(
            EndReason.USER_REVOKED_ACCESS,
            lambda t: (
                t.user_id == uid and t.kind is not TokenKind.PERSONAL and client_id in (None, t.client_id)
            ),
            user_id=uid,
        )

    def enable_enhanced_security(self, user: UserRef) -> list[Token]:
        """The user turns on enhanced security: their partner tokens stop working (§2.5)."""
        owner = self.user(user)
        with self._context.lock:
            owner.enhanced_security = True
            self._context.directory.changed()
        return self._revoke(
            EndReason.ENHANCED_SECURITY,
            lambda t: t.user_id == owner.id and t.kind is not TokenKind.PERSONAL,
            user_id=owner.id,
        )

    def breach(self, client_id: str) -> list[Token]:
        """Wise revokes every token of a client for a suspected breach (§2.5)."""
        self._context.directory.client(client_id)
        breached = client_id
        return self._revoke(EndReason.SECURITY_BREACH, lambda t: t.client_id == breached, client_id=breached)

    def change_email(self, user: UserRef, email: str) -> list[Token]:
        """The user changes their e-mail at Wise: all tokens to the account are revoked (§2.5).

        Assumption: a user who changed their e-mail on wise.com has taken the account over, so the
        partner's registration code stops working too (the partner must re-link, §2.5)."""
        owner = self.user(user)
        with self._context.lock:
            self._context.directory.change_email(owner, email)
            owner.reclaimed = owner.created_over_api or owner.reclaimed
            self._context.directory.changed()
        return self._revoke(EndReason.EMAIL_CHANGED, lambda t: t.user_id == owner.id, user_id=owner.id)

    def rotate_secret(self, client_id: str, client_secret: str | None = None) -> str:
        """A new client secret (Developer Hub). The old one stops working at once and the client's
        client-credentials tokens are revoked; users' tokens survive (they belong to the client id)."""
        context = self._context
        client = context.directory.client(client_id)
        new_secret = client_secret or secrets.token_urlsafe(24)
        with context.lock:
            client.secret_digest = context.directory.secrets.digest(new_secret)
            client.secret_revoked = False
            context.directory.changed()
        self._revoke(
            EndReason.SECRET_ROTATED,
            lambda t: t.client_id == client_id and t.kind is TokenKind.CLIENT_CREDENTIALS,
            client_id=client_id,
        )
        return new_secret

    def revoke_secret(self, client_id: str) -> list[Token]:
        """The client secret is revoked: the client cannot authenticate and all its tokens die."""
        client = self._context.directory.client(client_id)
        with self._context.lock:
            client.secret_revoked = True
            self._context.directory.changed()
        return self._revoke(EndReason.SECRET_REVOKED, lambda t: t.client_id == client_id, client_id=client_id)

    def reclaim(self, user: UserRef) -> list[Token]:
        """The user takes over an account a partner created: the registration code stops working
        (§4); the partner must link through the authorize page from now on."""
        owner = self.user(user)
        with self._context.lock:
            owner.reclaimed = True
            self._context.directory.changed()
        if self._context.settings.oauth.refresh_survives_reclaim:
            return []
        return self._revoke(
            EndReason.USER_REVOKED_ACCESS,
            lambda t: t.user_id == owner.id and t.kind is not TokenKind.PERSONAL,
            user_id=owner.id,
        )

    def _revoke(
        self,
        reason: EndReason,
        which: Callable[[Token], bool],
        *,
        client_id: str | None = None,
        user_id: int | None = None,
    ) -> list[Token]:
        with self._context.lock:
            return self._tokens.revoke(reason, which, client_id=client_id, user_id=user_id)
