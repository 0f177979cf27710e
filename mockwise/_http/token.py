"""`POST /oauth/token`: the four grants (reference §2).

Client authentication is HTTP Basic for every grant [C] §2.1. The body is a form (urlencoded or
multipart). Checks run in Spring's order: client authentication first, then the grant type, then
the grant's own parameters, so the same mistakes give the same answers as on Wise.
"""

from __future__ import annotations

from starlette.responses import Response

from mockwise._domain.errors import invalid_request, unsupported_grant_type
from mockwise._domain.grants import GRANT_TYPES
from mockwise._http.edge import connection_of
from mockwise._http.pipeline import Auth, NotedResponse, RouteCall, endpoint
from mockwise._http.render import token_response
from mockwise._http.responses import WiseJSON

# RFC 6749 §5.1: a token answer is not to be cached. Made once: every token answer carries them.
NO_STORE = ((b"cache-control", b"no-store"), (b"pragma", b"no-cache"))


async def token(call: RouteCall) -> NotedResponse:
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
            description: >
              One of the four grants, each with its own parameters (reference §2.2); `client_id`
              in the body, where Wise sends it too, must be the Basic client's.
            oneOf:
              - type: object
                required: [grant_type]
                properties:
                  grant_type: {const: client_credentials}
              - type: object
                required: [grant_type, email, registration_code]
                properties:
                  grant_type: {const: registration_code}
                  client_id: {type: string}
                  email: {type: string}
                  registration_code: {type: string, minLength: 1}
              - type: object
                required: [grant_type, code, redirect_uri]
                properties:
                  grant_type: {const: authorization_code}
                  client_id: {type: string}
                  code: {type: string, minLength: 1}
                  redirect_uri: {type: string}
              - type: object
                required: [grant_type, refresh_token]
                properties:
                  grant_type: {const: refresh_token}
                  refresh_token: {type: string, minLength: 1}
    responses:
      200:
        description: A client-credentials token, or user tokens (with a refresh token).
        content:
          application/json:
            schema: {$ref: "#/components/schemas/TokenResponse"}
      400: {$ref: "#/components/responses/OAuthError"}
      401: {$ref: "#/components/responses/OAuthError"}
    """
    tenant, client, params = call.tenant, call.client, call.params  # resolved once by the pipeline
    assert tenant is not None and client is not None
    grant_type = params.get("grant_type") or None
    if grant_type is None:
        raise invalid_request("Missing grant type")  # [C] §2.6
    if grant_type not in GRANT_TYPES:
        raise unsupported_grant_type(grant_type)
    issued = tenant.grant(client, grant_type, params, connection_of(call.request.scope))
    return NotedResponse(
        WiseJSON(
            token_response(issued, tenant.clock.now(), tenant.settings.oauth),
            raw_headers=NO_STORE,
        ),
        issued.note,
    )


async def method_not_allowed(call: RouteCall) -> Response:
    # Spring's TokenEndpoint answers other methods with an OAuth-shaped 405.
    return WiseJSON(
        {
            "error": "method_not_allowed",
            "error_description": f"Request method '{call.request.method}' not supported",
        },
        405,
        headers={"Allow": "POST"},
    )


routes = [
    endpoint("/oauth/token", token, methods=["POST"], auth=Auth.CLIENT, form=True, name="token"),
    endpoint(
        "/oauth/token",
        method_not_allowed,
        methods=["GET", "PUT", "PATCH", "DELETE", "OPTIONS"],
        auth=Auth.NONE,
        include_in_schema=False,
    ),
]
