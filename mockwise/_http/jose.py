"""JOSE over HTTP (reference §7): Wise's public keys, partners' key uploads, and the playgrounds.

Opening JOSE requests and sealing their answers is the pipeline's (`mockwise._http.envelope`), for
every route that allows it; these routes are where partners set JOSE up and try it.
"""

from __future__ import annotations

from starlette.responses import Response

from mockwise._domain.errors import FieldError, SpringError, ValidationError, not_found
from mockwise._domain.jose import KEY_ENCRYPTION, SIGNING_ALGORITHMS, KeyScope
from mockwise._http.envelope import JOSE_MEDIA
from mockwise._http.forms import require_valid, string_field
from mockwise._http.pipeline import RouteCall, endpoint
from mockwise._http.responses import WiseJSON

# Key endpoints (§7.5) -------------------------------------------------------------------------------


def _key_query(call: RouteCall) -> tuple[KeyScope, str, int | None]:
    params = call.request.query_params
    errors: list[FieldError] = []
    raw_scope, raw_alg, raw_version = params.get("scope"), params.get("algorithm"), params.get("version")
    scope = None
    if raw_scope is None:
        errors.append(FieldError("NotNull", "must not be null", "scope"))
    elif raw_scope not in KeyScope.__members__:
        errors.append(FieldError("INVALID", "scope must be PAYLOAD_SIGNING or PAYLOAD_ENCRYPTION", "scope"))
    else:
        scope = KeyScope(raw_scope)
    algorithm = "RSA_OAEP_256" if raw_alg == "RSA-OAEP-256" else raw_alg
    if algorithm is None:
        errors.append(FieldError("NotNull", "must not be null", "algorithm"))
    elif algorithm not in (*SIGNING_ALGORITHMS, KEY_ENCRYPTION):
        errors.append(
            FieldError(
                "INVALID",
                f"algorithm must be one of {', '.join((*SIGNING_ALGORITHMS, KEY_ENCRYPTION))}",
                "algorithm",
            )
        )
    elif scope is not None and (algorithm == KEY_ENCRYPTION) != (scope is KeyScope.PAYLOAD_ENCRYPTION):
        errors.append(FieldError("INVALID", f"{algorithm} is not a {scope.value} algorithm", "algorithm"))
    version = None
    if raw_version is not None:
        if raw_version.isdigit() and len(raw_version) <= 9:
            version = int(raw_version)
        else:
            errors.append(FieldError("INVALID", "version must be a positive whole number", "version"))
    if errors:
        raise ValidationError(errors)
    assert scope is not None and algorithm is not None
    return scope, algorithm, version


async def response_public_key(call: RouteCall) -> Response:
    """
    summary: Wise's public key for an algorithm and scope (client-credentials token)
    description: >
      `{keyId, version, keyMaterial: {algorithm, keyMaterial: Base64 DER}, scope}` (reference §7.5).
      Cache it; fetch it again after a verification or encryption failure.
    tags: [jose]
    security: [{bearerAuth: []}]
    parameters:
      - {name: algorithm, in: query, required: true,
         schema: {type: string, enum: [ES256, ES384, ES512, PS256, PS384, PS512, RSA_OAEP_256]}}
      - {name: scope, in: query, required: true,
         schema: {type: string, enum: [PAYLOAD_SIGNING, PAYLOAD_ENCRYPTION]}}
      - {name: version, in: query, schema: {type: integer, minimum: 1}}
    responses:
      200: {description: "The key."}
      400: {$ref: "#/components/responses/ValidationErrors"}
      401: {$ref: "#/components/responses/OAuthError"}
      403: {$ref: "#/components/responses/SpringError"}
      404: {$ref: "#/components/responses/SpringError"}
    """
    caller = call.bearer
    caller.require_partner()
    scope, algorithm, version = _key_query(call)
    try:
        key = caller.tenant.jose.sandbox_key(scope, algorithm, version)
    except LookupError as exc:
        raise not_found(str(exc)) from None
    return WiseJSON(key.as_json())


async def upload_public_key(call: RouteCall) -> Response:
    """
    summary: Upload a partner public key for JWS request signing or JWE response encryption
    description: >
      PAYLOAD_SIGNING keys are ES256/384/512 or PS256/384/512; PAYLOAD_ENCRYPTION keys RSA_OAEP_256
      (RSA of 2048+ bits). The answer repeats the key with `clientId` and `deactivationTimestamp`
      null, as Wise's does (reference §7.5).
    tags: [jose]
    security: [{bearerAuth: []}]
    requestBody:
      content:
        application/json:
          schema:
            type: object
            properties:
              keyId: {type: string, format: uuid}
              scope: {type: string, enum: [PAYLOAD_SIGNING, PAYLOAD_ENCRYPTION]}
              validFrom: {type: string, example: "2026-01-01 00:00:00"}
              validTill: {type: string, example: "2027-01-01 00:00:00"}
              publicKeyMaterial:
                type: object
                properties:
                  algorithm: {type: string, example: ES512}
                  keyMaterial: {type: string, description: "Base64 DER SubjectPublicKeyInfo"}
    responses:
      201: {description: "The key, installed."}
      400: {$ref: "#/components/responses/ValidationErrors"}
      401: {$ref: "#/components/responses/OAuthError"}
      403: {$ref: "#/components/responses/SpringError"}
      409: {$ref: "#/components/responses/ValidationErrors"}
    """
    caller = call.bearer
    client = caller.require_partner()
    data = await call.json()
    material = data.get("publicKeyMaterial")
    material = material if isinstance(material, dict) else {}
    made = caller.tenant.jose.upload(
        client.client_id,
        key_id=data.get("keyId"),
        scope=data.get("scope"),
        algorithm=material.get("algorithm"),
        key_material=material.get("keyMaterial"),
        valid_from=data.get("validFrom"),
        valid_till=data.get("validTill"),
    )
    return WiseJSON(made.as_json(), 201)


# Playgrounds (§7.5): echo `jose-playground-response-<message>`; non-JOSE input is rejected ----------

PLAYGROUNDS = {"jws": "jws", "jwe": "jwe", "jwsjwe": "jws+jwe", "jwe-direct-encryption": "jwe"}
MAX_MESSAGE = 100


async def playground(call: RouteCall) -> Response:
    """
    summary: JOSE playground (jws, jwe, jwe-direct-encryption, jwsjwe)
    description: >
      Takes `{"message": "..."}` (at most 100 characters) as a JOSE request of the playground's
      kind (`Content-Type: application/jose+json`, `X-TW-JOSE-Method`) and answers
      `{"message": "jose-playground-response-<message>", "method": "POST"}` signed and/or
      encrypted; plain input is rejected (reference §7.5). A JWE that cannot be decrypted gets
      Wise's generic 500 (§7.3).
    tags: [jose]
    security: [{bearerAuth: []}]
    responses:
      200: {description: "The echo, as application/jose+json."}
      400: {$ref: "#/components/responses/SpringError"}
      401: {$ref: "#/components/responses/OAuthError"}
      500: {$ref: "#/components/responses/SpringError"}
    """
    request = call.request
    name = request.url.path.rsplit("/", 1)[-1]
    expected = PLAYGROUNDS[name]
    jose = call.jose
    if jose is None or jose.method != expected:
        raise SpringError(
            400,
            f"This playground takes {expected} requests: Content-Type: {JOSE_MEDIA} and "
            f"X-TW-JOSE-Method: {expected}",
        )
    message = ""
    if request.method == "POST":
        errors: list[FieldError] = []
        value = string_field(await call.json(), "message", errors)
        if value is not None and len(value) > MAX_MESSAGE:
            errors.append(
                FieldError("Size", f"size must be between 0 and {MAX_MESSAGE}", "message", [MAX_MESSAGE, 0])
            )
        require_valid(errors)
        message = value or ""
    return WiseJSON({"message": f"jose-playground-response-{message}", "method": request.method})


routes = [
    endpoint("/v1/auth/jose/request/public-keys", upload_public_key, methods=["POST"]),
    endpoint("/v1/auth/jose/response/public-keys", response_public_key, methods=["GET"]),
    endpoint("/v1/auth/jwt-public-key", response_public_key, methods=["GET"]),  # the legacy path §7.5
    endpoint("/v1/auth/jose/playground/jws", playground, methods=["POST"]),
    endpoint("/v1/auth/jose/playground/jwe", playground, methods=["GET", "POST"]),
    endpoint("/v1/auth/jose/playground/jwe-direct-encryption", playground, methods=["POST"], jose="direct"),
    endpoint("/v1/auth/jose/playground/jwsjwe", playground, methods=["POST"]),
]
