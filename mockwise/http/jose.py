"""JOSE over HTTP (reference §7): key endpoints, playgrounds, and the layer that opens JOSE requests
and seals their responses on any data-plane endpoint.

A JOSE request carries `Content-Type: application/jose+json` and `X-TW-JOSE-Method: jws | jwe |
jws+jwe`, and its body is the compact serialisation [C] §7.1. The layer, between the edge and the
routes, verifies or decrypts it and hands the route plain JSON; the route's 2xx answer goes back
signed by Wise (jws), encrypted to the partner's PAYLOAD_ENCRYPTION key with its `kid` and a new
content key (jwe), or both (jws+jwe, sign then encrypt). PIN and device-fingerprint endpoints and
the direct-encryption playground answer with the request's own content key (`alg: dir`) §7.3.

Refusals are Spring error JSON with `Fidelity.jose_refusal_status` (400) and a message naming the
reason (bad signature, `url` mismatch, unknown `kid`, unsupported algorithm, missing key); a JWE
that cannot be decrypted gets the generic 500 Wise documents [C] §7.3. The reason's code is also in
the `X-Mockwise-Jose-Error` header and the journal (`jose`). Requests without `X-TW-JOSE-Method`
pass straight through.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mockwise.domain.jose import (
    KEY_ENCRYPTION,
    SIGNING_ALGORITHMS,
    JoseError,
    KeyScope,
    encrypt,
    encrypt_direct,
    sign,
)
from mockwise.domain.tokens import Token, TokenKind, TokenState
from mockwise.errors import FieldError, SpringError, ValidationError, WiseError, not_found
from mockwise.http.auth import bearer, bearer_value
from mockwise.http.edge import CONTROL_PREFIX, exchange_of
from mockwise.http.forms import json_object, read_body, require_valid, string_field
from mockwise.http.responses import WiseJSON, wise_response

if TYPE_CHECKING:
    from mockwise.domain.sandbox import Sandbox
    from mockwise.domain.tenant import Tenant

JOSE_MEDIA = "application/jose+json"
METHODS = ("jws", "jwe", "jws+jwe")
#: Endpoints that answer a JWE with the request's own content key (direct encryption) [C] §7.3.
DIRECT_PATHS = frozenset({
    "/v1/auth/jose/playground/jwe-direct-encryption",
    "/v1/one-time-token/pin/verify",
    "/v1/one-time-token/partner-device-fingerprint/verify",
})  # fmt: skip
SCOPE_KEY = "mockwise.jose"
ERROR_HEADER = "X-Mockwise-Jose-Error"


@dataclass(slots=True)
class JoseRequest:
    """What the layer learned from a JOSE request; routes read it with `jose_of(request)`."""

    method: str  # "jws", "jwe" or "jws+jwe"
    client_id: str
    kid: str | None = None  # the partner key that signed the request
    alg: str | None = None  # the request's JWS algorithm
    cek: bytes | None = None  # the request's content key, for direct encryption
    direct: bool = False

    def describe(self) -> str:
        return self.method + (f" kid={self.kid}" if self.kid else "") + (" dir" if self.direct else "")


def jose_of(request: Request) -> JoseRequest | None:
    found: JoseRequest | None = request.scope.get(SCOPE_KEY)
    return found


class JoseLayer:
    """Pure ASGI: opens JOSE requests for the routes and seals their answers."""

    def __init__(self, app: ASGIApp, sandbox: Sandbox) -> None:
        self.app = app
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        method = auth = None
        jose_body = False
        for name, value in scope["headers"]:
            if name == b"x-tw-jose-method":
                method = value
            elif name == b"authorization":
                auth = value
            elif name == b"content-type":
                jose_body = value.split(b";")[0].strip().lower() == JOSE_MEDIA.encode()
        if method is None and not jose_body:
            await self.app(scope, receive, send)
            return
        caller = self._caller(auth)
        if caller is None:  # no valid bearer: the route answers 401 as usual
            await self.app(scope, receive, send)
            return
        tenant, token = caller
        try:
            request, payload = await self._open(scope, receive, tenant, token, method)
        except JoseError as exc:
            await self._refuse(scope, send, tenant, token, exc)
            return
        except WiseError as exc:  # a body over the limit
            await self._render(scope, send, tenant, exc)
            return
        exchange_of(scope).entry.jose = request.describe()
        inner = dict(scope)
        inner[SCOPE_KEY] = request
        inner["headers"] = [
            (k, v) for k, v in scope["headers"] if k not in (b"content-type", b"content-length")
        ] + [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
        await self.app(inner, _replay(payload, receive), self._sealing(request, tenant, send))

    def _caller(self, auth: bytes | None) -> tuple[Tenant, Token] | None:
        value = bearer_value(auth.decode("latin-1") if auth is not None else None)
        if value is None:
            return None
        tenant, token = self.sandbox.find_token(value)
        if tenant is None or token is None or token.kind is TokenKind.REFRESH:
            return None
        if token.state(tenant.clock.now()) is not TokenState.VALID:
            return None
        return tenant, token

    async def _open(
        self, scope: Scope, receive: Receive, tenant: Tenant, token: Token, method: bytes | None
    ) -> tuple[JoseRequest, bytes]:
        body = await read_body(Request(scope, receive))
        name = method.decode("latin-1").strip().lower() if method is not None else None
        if name is None:
            raise JoseError(
                "missing_method", f"A {JOSE_MEDIA} body needs X-TW-JOSE-Method: jws, jwe or jws+jwe"
            )
        if name not in METHODS:
            raise JoseError(
                "unsupported_method", f"X-TW-JOSE-Method must be jws, jwe or jws+jwe, not {name[:40]!r}"
            )
        if token.client_id is None:
            raise JoseError(
                "no_client", "JOSE uses a partner's uploaded keys: call with a token issued to an API client"
            )
        request = JoseRequest(name, token.client_id)
        request.direct = name != "jws" and scope["path"] in DIRECT_PATHS
        payload = b""
        if body.strip():
            try:
                text = body.decode("ascii")
            except UnicodeDecodeError:
                raise JoseError(
                    "malformed", "A JOSE body is a compact serialisation (ASCII)", decryption=name != "jws"
                ) from None
            if name == "jws":
                payload = self._verify(scope, tenant, request, text)
            else:
                header, inner, request.cek = tenant.jose.decrypt(text)
                if "url" in header:
                    _check_url(scope, header["url"])
                if name == "jwe":
                    payload = inner
                else:
                    try:
                        signed = inner.decode("ascii")
                    except UnicodeDecodeError:
                        raise JoseError(
                            "malformed_jws", "The decrypted JWE does not hold a compact JWS"
                        ) from None
                    payload = self._verify(scope, tenant, request, signed)
        if request.direct and request.cek is None:
            raise JoseError(
                "no_content_key",
                "Direct encryption answers with the request's content key: send an encrypted body",
            )
        if name != "jws" and not request.direct and tenant.jose.encryption_key(request.client_id) is None:
            raise JoseError(
                "no_encryption_key",
                "Responses are encrypted to your PAYLOAD_ENCRYPTION key: upload one first "
                "(POST /v1/auth/jose/request/public-keys)",
            )
        return request, payload

    def _verify(self, scope: Scope, tenant: Tenant, request: JoseRequest, text: str) -> bytes:
        header, payload = tenant.jose.verify(request.client_id, text)
        if "url" not in header:
            raise JoseError("missing_url", "The JWS header must carry the request path as `url`")
        _check_url(scope, header["url"])
        request.kid = header.get("kid") if isinstance(header.get("kid"), str) else None
        request.alg = header["alg"]
        return payload

    def _sealing(self, request: JoseRequest, tenant: Tenant, send: Send) -> Send:
        start: Message | None = None
        chunks: list[bytes] = []

        async def seal(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            status = start["status"]
            if not body or not (200 <= status < 300 or tenant.fidelity.jose_wrap_errors):
                await send(start)  # empty answers are not encrypted [C] §7.3
                await send({"type": "http.response.body", "body": body})
                return
            sealed = _seal(body, request, tenant).encode()
            headers = [
                (k, v) for k, v in start.get("headers", ()) if k not in (b"content-type", b"content-length")
            ]
            headers += [
                (b"content-type", JOSE_MEDIA.encode()),
                (b"content-length", str(len(sealed)).encode()),
            ]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": sealed})

        return seal

    async def _refuse(self, scope: Scope, send: Send, tenant: Tenant, token: Token, exc: JoseError) -> None:
        exchange = exchange_of(scope)
        exchange.presented(token, TokenState.VALID)
        exchange.entry.jose = f"refused:{exc.code}"
        if exc.decryption:  # "a generic 500 Internal Server Error for decryption failures" [C] §7.3
            error = SpringError(500, "No message available", {ERROR_HEADER: exc.code})
        else:
            status = tenant.fidelity.jose_refusal_status
            status = status if status in (400, 401, 403) else 400  # a bad PATCH must not crash rendering
            error = SpringError(status, exc.message, {ERROR_HEADER: exc.code})
        error.code = exc.code
        await self._render(scope, send, tenant, error)

    async def _render(self, scope: Scope, send: Send, tenant: Tenant, error: WiseError) -> None:
        exchange = exchange_of(scope)
        try:
            await exchange.admit(tenant)
        except WiseError as limited:  # over the rate limits: that answer wins
            error = limited
        exchange.entry.error = error.code
        await wise_response(error, exchange.entry.path, tenant.clock.now())(scope, _no_receive, send)


def _seal(body: bytes, request: JoseRequest, tenant: Tenant) -> str:
    if request.method != "jwe":
        wanted = tenant.fidelity.jose_response_signing_algorithm
        alg = (request.alg or "ES512") if wanted == "request" else wanted
        if alg not in SIGNING_ALGORITHMS:
            alg = "ES512"
        body = sign(body, tenant.jose.sandbox_key(KeyScope.PAYLOAD_SIGNING, alg)).encode()
        if request.method == "jws":
            return body.decode()
    if request.direct:
        assert request.cek is not None
        return encrypt_direct(body, request.cek)
    key = tenant.jose.encryption_key(request.client_id)
    if key is None:  # removed while the request ran: a sandbox race, not a Wise behaviour
        raise RuntimeError("the partner's encryption key was removed during the request")
    return encrypt(body, key)


def _check_url(scope: Scope, url: Any) -> None:
    """The `url` header must be the request's path [C] §7.2 (with its query string, if sent)."""
    routed = scope["path"]
    sent = exchange_of(scope).entry.path  # as the client wrote it, CalVer prefix included
    query = scope.get("query_string", b"").decode("latin-1")
    allowed = {routed, sent}
    if query:
        allowed |= {f"{routed}?{query}", f"{sent}?{query}"}
    if not isinstance(url, str) or url not in allowed:
        shown = repr(url) if len(repr(url)) <= 120 else repr(url)[:120] + "…"
        raise JoseError("url_mismatch", f"The JWS url {shown} does not match the request path {sent!r}")


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _no_receive() -> Message:  # pragma: no cover - a response never reads the request
    return {"type": "http.disconnect"}


# Key endpoints (§7.5) -------------------------------------------------------------------------------


def _key_query(request: Request) -> tuple[KeyScope, str, int | None]:
    params = request.query_params
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


async def response_public_key(request: Request) -> Response:
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
    caller = await bearer(request)
    caller.require_partner()
    scope, algorithm, version = _key_query(request)
    try:
        key = caller.tenant.jose.sandbox_key(scope, algorithm, version)
    except LookupError as exc:
        raise not_found(str(exc)) from None
    return WiseJSON(key.as_json())


async def upload_public_key(request: Request) -> Response:
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
    caller = await bearer(request)
    client = caller.require_partner()
    data = await json_object(request)
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


async def playground(request: Request) -> Response:
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
    await bearer(request)
    name = request.url.path.rsplit("/", 1)[-1]
    expected = PLAYGROUNDS[name]
    jose = jose_of(request)
    if jose is None or jose.method != expected:
        raise SpringError(
            400,
            f"This playground takes {expected} requests: Content-Type: {JOSE_MEDIA} and "
            f"X-TW-JOSE-Method: {expected}",
        )
    message = ""
    if request.method == "POST":
        errors: list[FieldError] = []
        value = string_field(await json_object(request), "message", errors)
        if value is not None and len(value) > MAX_MESSAGE:
            errors.append(
                FieldError("Size", f"size must be between 0 and {MAX_MESSAGE}", "message", [MAX_MESSAGE, 0])
            )
        require_valid(errors)
        message = value or ""
    return WiseJSON({"message": f"jose-playground-response-{message}", "method": request.method})


routes = [
    Route("/v1/auth/jose/request/public-keys", upload_public_key, methods=["POST"]),
    Route("/v1/auth/jose/response/public-keys", response_public_key, methods=["GET"]),
    Route("/v1/auth/jwt-public-key", response_public_key, methods=["GET"]),  # the legacy path §7.5
    Route("/v1/auth/jose/playground/jws", playground, methods=["POST"]),
    Route("/v1/auth/jose/playground/jwe", playground, methods=["GET", "POST"]),
    Route("/v1/auth/jose/playground/jwe-direct-encryption", playground, methods=["POST"]),
    Route("/v1/auth/jose/playground/jwsjwe", playground, methods=["POST"]),
]
