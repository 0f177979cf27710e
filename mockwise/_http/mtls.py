"""`GET /v1/authenticated/playground`: Wise's mTLS test endpoint (reference §6).

Wise documents it on the mTLS host with `Authorization: Bearer <access_token>` and does not show its
answer [?]. The sandbox answers 200 with a small JSON object in the style of Wise's JOSE playground
(`{"message":"jose-playground-response-…","method":"POST"}`, §7.5), plus what the call proved:

    {"message": "authenticated-playground-response", "method": "GET",
     "clientId": "<the token's client, null for personal tokens>",
     "certificate": "<SHA-256 fingerprint of the client certificate>"}

On the TLS-only API host it is refused like any mTLS failure (`mtls.refusal_status`): the
endpoint exists to prove mTLS works. In-process (no TLS), `certificate` is null.
"""

from __future__ import annotations

from starlette.responses import Response

from mockwise._domain.certificates import MTLS, mtls_refused
from mockwise._http.edge import connection_of
from mockwise._http.pipeline import RouteCall, endpoint
from mockwise._http.responses import WiseJSON

PLAYGROUND = "/v1/authenticated/playground"


async def playground(call: RouteCall) -> Response:
    """
    summary: Wise's mTLS test endpoint (on the mTLS host, with a client certificate)
    description: >
      Answers `{"message":"authenticated-playground-response","method":"GET","clientId":…,
      "certificate":<SHA-256 fingerprint>}` (Wise does not document its answer). Refused on the
      TLS-only API host, and like any call when the certificate does not fit the token's client.
    tags: [mtls]
    security: [{bearerAuth: []}]
    responses:
      200: {description: "What the call proved: the token's client and the certificate presented."}
      401: {$ref: "#/components/responses/OAuthError"}
      403: {$ref: "#/components/responses/OAuthError"}
    """
    caller = call.bearer
    connection = connection_of(call.request.scope)
    if connection.listener is not None and connection.listener != MTLS:
        raise mtls_refused(
            caller.tenant.settings.mtls.refusal_status,
            f"GET {PLAYGROUND} answers on the mTLS host only: call mtls_api_url with a client certificate",
        )
    return WiseJSON(
        {
            "message": "authenticated-playground-response",
            "method": call.request.method,
            "clientId": caller.token.client_id,
            "certificate": connection.fingerprint,
        }
    )


routes = [endpoint(PLAYGROUND, playground, methods=["GET"])]
