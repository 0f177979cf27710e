"""Who is calling: HTTP Basic client authentication and bearer tokens, with Wise's refusals.

- no `Authorization` header → 401 `unauthorized` "Full authentication is required..." [C] §10;
- unknown, expired, superseded or revoked bearer → 401 `invalid_token` "Invalid token" [C] §10;
- wrong client id or secret → 401 `unauthorized` "Bad credentials" (Spring; Wise is silent) §2.6.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from starlette.requests import Request

from mockwise.domain.model import ApiClient, Profile, User
from mockwise.domain.sandbox import Sandbox
from mockwise.domain.tenant import Tenant
from mockwise.domain.tokens import Token, TokenKind, TokenState
from mockwise.errors import (
    OAuthError,
    bad_client_credentials,
    forbidden,
    invalid_token,
    missing_authentication,
)
from mockwise.http.edge import connection_of, exchange_of


def sandbox_of(request: Request) -> Sandbox:
    sandbox: Sandbox = request.app.state.sandbox
    return sandbox


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """(client_id, client_secret) from `Authorization: Basic`, or None when there is none."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise bad_client_credentials("Failed to decode basic authentication token") from None
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise bad_client_credentials("Invalid basic authentication token")
    return client_id, secret


async def authenticate_client(
    request: Request, client_id: str, secret: str, grant_type: str | None
) -> tuple[Tenant, ApiClient]:
    tenant = sandbox_of(request).tenant_for_client(client_id)
    if tenant is None:
        raise bad_client_credentials()
    await exchange_of(request.scope).admit(tenant, client_id=client_id, grant_type=grant_type)
    client = tenant.directory.clients.get(client_id)
    if (
        client is None
        or client.secret_revoked
        or not tenant.directory.secrets.matches(secret, client.secret_digest)
    ):
        raise bad_client_credentials()
    tenant.certificates.admit(client.client_id, connection_of(request.scope))  # mTLS (§6)
    return tenant, client


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
            status = self.tenant.fidelity.client_credentials_on_user_endpoints
            if status == 401:
                raise OAuthError("unauthorized", "A client credentials token does not act for a user", 401)
            raise forbidden("This endpoint needs a user access token; a client credentials token has no user")
        return self.tenant.directory.user(self.token.user_id)

    def profiles(self) -> list[Profile]:
        """The profiles this token may list: a token bound to one profile sees that one (§3)."""
        user = self.user()
        profiles = self.tenant.directory.profiles_of(user)
        bound = self.token.profile_id
        if bound is not None and self.tenant.fidelity.bound_token_lists_only_its_profile:
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


def bearer_value(header: str | None) -> str | None:
    """The token in an `Authorization: Bearer <token>` header; None when there is none."""
    if header is None:
        return None
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    return value if scheme.lower() == "bearer" and value else None


async def bearer(request: Request) -> Caller:
    """The caller behind `Authorization: Bearer <token>`, or the refusal Wise gives."""
    exchange = exchange_of(request.scope)
    value = bearer_value(request.headers.get("authorization"))
    if value is None:
        raise missing_authentication(realm="oauth2-resource", scheme="Bearer")
    tenant, token = sandbox_of(request).find_token(value)
    if tenant is None or token is None:
        exchange.presented(None, TokenState.UNKNOWN)
        raise _invalid(None, value)
    state = token.state(tenant.clock.now())
    exchange.presented(token, state)  # first, so admission knows the client (rate limits)
    await exchange.admit(tenant)
    if state is not TokenState.VALID or token.kind is TokenKind.REFRESH:
        raise _invalid(tenant, value)
    tenant.certificates.admit_token(token, connection_of(request.scope))  # mTLS (§6)
    return Caller(tenant, token)


def _invalid(tenant: Tenant | None, value: str) -> OAuthError:
    if tenant is not None and tenant.fidelity.echo_token_in_invalid_token:
        return invalid_token(value[:64])
    return invalid_token()
