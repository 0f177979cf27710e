"""`POST /oauth/token`: the four grants (reference §2).

Client authentication is HTTP Basic for every grant [C] §2.1. The body is a form (urlencoded or
multipart). Checks run in Spring's order: client authentication first, then the grant type, then
the grant's own parameters, so the same mistakes give the same answers as on Wise.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mockwise.domain.grants import Issued
from mockwise.domain.model import ApiClient
from mockwise.domain.tenant import Tenant
from mockwise.domain.tokens import token_key
from mockwise.errors import (
    OAuthError,
    invalid_request,
    missing_authentication,
    unsupported_grant_type,
)
from mockwise.http.auth import authenticate_client, basic_credentials, sandbox_of
from mockwise.http.edge import Exchange, connection_of, exchange_of
from mockwise.http.forms import form_params
from mockwise.http.render import token_response
from mockwise.http.responses import WiseJSON

Params = dict[str, str]
Grant = Callable[[Tenant, ApiClient, Params], Issued]


async def token(request: Request) -> Response:
    """
    summary: Get a token (client_credentials, registration_code, authorization_code, refresh_token)
    description: >
      HTTP Basic client authentication for every grant; a form body (urlencoded or multipart).
      Errors are `{"error", "error_description"}` as on Spring Security OAuth2 (reference §2.6).
    tags: [oauth]
    security: [{basicAuth: []}]
    requestBody:
      required: true
      content:
        application/x-www-form-urlencoded:
          schema:
            type: object
            required: [grant_type]
            properties:
              grant_type:
                type: string
                enum: [client_credentials, registration_code, authorization_code, refresh_token]
              client_id: {type: string}
              email: {type: string}
              registration_code: {type: string}
              code: {type: string}
              redirect_uri: {type: string}
              refresh_token: {type: string}
    responses:
      200:
        description: A client-credentials token, or user tokens (with a refresh token).
        content:
          application/json:
            schema: {$ref: "#/components/schemas/TokenResponse"}
      400: {$ref: "#/components/responses/OAuthError"}
      401: {$ref: "#/components/responses/OAuthError"}
    """
    exchange = exchange_of(request.scope)
    params = await form_params(request)
    exchange.entry.params = tuple(params)
    grant_type = params.get("grant_type") or None

    credentials = basic_credentials(request)
    exchange.entry.basic_auth = credentials is not None
    if credentials is None:
        credentials = _body_credentials(request, params)
    if credentials is None:
        raise missing_authentication()
    tenant, client = await authenticate_client(request, *credentials, grant_type=grant_type)
    if tenant.fidelity.token_params_from_query:
        params = {**dict(request.query_params), **params}
        grant_type = params.get("grant_type") or None

    if grant_type is None:
        raise invalid_request("Missing grant type")  # [C] §2.6
    grant = GRANTS.get(grant_type)
    if grant is None:
        raise unsupported_grant_type(grant_type)
    named = params.get("client_id")
    if named is not None and named != client.client_id:
        raise OAuthError("invalid_client", "Given client ID does not match authenticated client", 401)

    _note_subject(exchange, tenant, grant_type, params)
    with tenant.lock:
        issued = grant(tenant, client, params)
        tenant.certificates.bind(issued.access, connection_of(request.scope))  # RFC 8705, if asked
        now = tenant.clock.now()
    exchange.entry.issued = issued.access.id
    exchange.entry.user_id = issued.access.user_id
    return WiseJSON(
        token_response(issued, now, tenant.fidelity),
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


def _note_subject(exchange: Exchange, tenant: Tenant, grant_type: str, params: Params) -> None:
    """Journal what a grant request is about (by identity, never by value), even if it fails."""
    entry = exchange.entry
    if grant_type == "refresh_token" and params.get("refresh_token"):
        exchange.presented(*tenant.tokens.lookup(params["refresh_token"]))
    elif grant_type == "authorization_code" and params.get("code"):
        entry.token, entry.token_kind = token_key(params["code"])[:16], "authorization_code"
    elif grant_type == "registration_code" and params.get("email"):
        user = tenant.directory.by_signup_email(params["email"])
        entry.user_id = user.id if user is not None else None


def _body_credentials(request: Request, params: Params) -> tuple[str, str] | None:
    """Client id and secret as form fields, only where the tenant's fidelity allows it."""
    client_id, secret = params.get("client_id"), params.get("client_secret")
    if client_id is None or secret is None:
        return None
    tenant = sandbox_of(request).tenant_for_client(client_id)
    if tenant is None or not tenant.fidelity.client_auth_in_body:
        return None
    return client_id, secret


def _required(params: Params, name: str, message: str | None = None) -> str:
    value = params.get(name)
    if not value:
        raise invalid_request(message or f"Missing {name}")
    return value


def _client_credentials(tenant: Tenant, client: ApiClient, params: Params) -> Issued:
    return tenant.tokens.client_credentials(client)


def _registration_code(tenant: Tenant, client: ApiClient, params: Params) -> Issued:
    if not client.can_create_users:
        raise OAuthError("unauthorized_client", "Unauthorized grant type: registration_code")
    email = _required(params, "email")
    code = _required(params, "registration_code")
    return tenant.tokens.registration_code(client, email, code)


def _authorization_code(tenant: Tenant, client: ApiClient, params: Params) -> Issued:
    code = _required(params, "code", "An authorization code must be supplied.")
    return tenant.tokens.authorization_code(client, code, params.get("redirect_uri"))


def _refresh_token(tenant: Tenant, client: ApiClient, params: Params) -> Issued:
    return tenant.tokens.refresh(client, _required(params, "refresh_token"))


GRANTS: dict[str, Grant] = {
    "client_credentials": _client_credentials,
    "registration_code": _registration_code,
    "authorization_code": _authorization_code,
    "refresh_token": _refresh_token,
}


async def method_not_allowed(request: Request) -> Response:
    # Spring's TokenEndpoint answers other methods with an OAuth-shaped 405.
    return WiseJSON(
        {
            "error": "method_not_allowed",
            "error_description": f"Request method '{request.method}' not supported",
        },
        405,
        headers={"Allow": "POST"},
    )


routes = [
    Route("/oauth/token", token, methods=["POST"], name="token"),
    Route(
        "/oauth/token",
        method_not_allowed,
        methods=["GET", "PUT", "PATCH", "DELETE", "OPTIONS"],
        include_in_schema=False,
    ),
]
