"""Who is calling: the `Authorization` header, read once per request, and the bearer caller a route
is handed. The refusals (reference §2.6, §10) are the pipeline's (`mockwise._http.pipeline`):

- no `Authorization` header → 401 `unauthorized` "Full authentication is required..." [C] §10;
- unknown, expired, superseded or revoked bearer → 401 `invalid_token` "Invalid token" [C] §10;
- wrong client id or secret → 401 `unauthorized` "Bad credentials" (Spring; Wise is silent) §2.6.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass

from mockwise._domain.errors import OAuthError, WiseError, bad_client_credentials, forbidden
from mockwise._domain.model import ApiClient, Profile, User
from mockwise._domain.tenant import Tenant
from mockwise._domain.tokens import Token, TokenKind


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a request's `Authorization` header says, parsed once (never logged or journaled)."""

    scheme: str | None = None  # "basic", "bearer", or another scheme as sent (lower case)
    client_id: str | None = None  # Basic
    secret: str | None = None  # Basic
    token_value: str | None = None  # Bearer
    error: WiseError | None = None  # a Basic header that cannot be decoded


NO_CREDENTIALS = Credentials()


def parse_authorization(header: bytes) -> Credentials:
    """`Basic <base64(client_id:secret)>` or `Bearer <token>`; anything else names no one."""
    scheme, _, value = header.decode("latin-1").strip().partition(" ")
    scheme, value = scheme.lower(), value.strip()
    if scheme == "bearer":
        return Credentials(scheme, token_value=value or None)
    if scheme != "basic":
        return Credentials(scheme or None)
    try:
        decoded = binascii.a2b_base64(value, strict_mode=True).decode("utf-8")  # b64decode(validate=True)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return Credentials(
            scheme, error=bad_client_credentials("Failed to decode basic authentication token")
        )
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        return Credentials(scheme, error=bad_client_credentials("Invalid basic authentication token"))
    return Credentials(scheme, client_id=client_id, secret=secret)


@dataclass(slots=True)
class Caller:
    """The holder of a valid bearer token, and what that token may reach."""

    tenant: Tenant
    token: Token

    @property
    def kind(self) -> TokenKind:
        return self.token.kind

    def require_partner(self) -> ApiClient:
        """Partner-only endpoints (user creation over API...) need a client-credentials token."""
        if self.token.kind is not TokenKind.CLIENT_CREDENTIALS or self.token.client_id is None:
            raise forbidden("This endpoint needs a client credentials token (partner authentication)")
        return self.tenant.directory.client(self.token.client_id)

    def user(self) -> User:
        """The user a user or personal token acts for."""
        if self.token.user_id is None:
            status = self.tenant.settings.oauth.client_credentials_on_user_endpoints
            if status == 401:
                raise OAuthError("unauthorized", "A client credentials token does not act for a user", 401)
            raise forbidden("This endpoint needs a user access token; a client credentials token has no user")
        return self.tenant.directory.user(self.token.user_id)

    def profiles(self) -> list[Profile]:
        """The profiles this token may list: a token bound to one profile sees that one (§3)."""
        user = self.user()
        profiles = self.tenant.directory.profiles_of(user)
        bound = self.token.profile_id
        if bound is not None and self.tenant.settings.oauth.bound_token_lists_only_its_profile:
            return [p for p in profiles if p.id == bound]
        return profiles

    def profile(self, profile_id: int) -> Profile:
        """One profile this token may act on; others (and unknown ids) answer 403 (§3, §10)."""
        user = self.user()
        profile = self.tenant.directory.profiles.get(profile_id)
        if profile is None or profile.user_id != user.id:
            raise forbidden("You are not authorized to access this profile")
        if self.token.profile_id is not None and self.token.profile_id != profile_id:
            raise forbidden("This token was granted for another profile")
        return profile
