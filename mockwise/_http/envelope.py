"""JOSE envelopes (reference §7): opening a signed or encrypted request for its route, and sealing
the route's answer. The pipeline (`mockwise._http.pipeline`) calls both for routes that allow JOSE.

A JOSE request carries `Content-Type: application/jose+json` and `X-TW-JOSE-Method: jws | jwe |
jws+jwe`, and its body is the compact serialisation [C] §7.1. The route reads plain JSON; its 2xx
answer goes back signed by Wise (jws), encrypted to the partner's PAYLOAD_ENCRYPTION key with its
`kid` and a new content key (jwe), or both (jws+jwe, sign then encrypt). PIN and
device-fingerprint endpoints and the direct-encryption playground answer with the request's own
content key (`alg: dir`, their route declares `jose="direct"`) §7.3.

Refusals are Spring error JSON with `jose.refusal_status` (400) and a message naming the reason
(bad signature, `url` mismatch, unknown `kid`, unsupported algorithm, missing key); a JWE that
cannot be decrypted gets the generic 500 Wise documents [C] §7.3. The reason's code is also in the
`X-Mockwise-Jose-Error` header and the journal (`jose`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from mockwise._domain.entries import Note
from mockwise._domain.errors import SpringError, WiseError
from mockwise._domain.jose import SIGNING_ALGORITHMS, JoseError, KeyScope, encrypt, encrypt_direct, sign
from mockwise._domain.tenant import Tenant
from mockwise._http.forms import content_type, read_body

JOSE_MEDIA = "application/jose+json"
METHODS = ("jws", "jwe", "jws+jwe")
ERROR_HEADER = "X-Mockwise-Jose-Error"


@dataclass(slots=True)
class JoseRequest:
    """What the pipeline learned from a JOSE request; routes read it as `call.jose`."""

    method: str  # "jws", "jwe" or "jws+jwe"
    client_id: str
    kid: str | None = None  # the partner key that signed the request
    alg: str | None = None  # the request's JWS algorithm
    cek: bytes | None = None  # the request's content key, for direct encryption
    direct: bool = False

    def describe(self) -> str:
        return self.method + (f" kid={self.kid}" if self.kid else "") + (" dir" if self.direct else "")


def is_jose(request: Request) -> bool:
    """A JOSE request names its method, or sends a JOSE body [C] §7.1 (from the raw headers: every
    request to a JOSE-capable route asks, and most are not JOSE)."""
    if any(name == b"x-tw-jose-method" for name, _ in request.scope["headers"]):
        return True
    return content_type(request).split(";")[0].strip() == JOSE_MEDIA


@dataclass(frozen=True, slots=True)
class Target:
    """Where a JOSE request was sent: its `url` header must name it [C] §7.2."""

    sent: str  # the path as the client wrote it, CalVer prefix included
    routed: str  # the path as routed
    query: str  # the query string, if any


async def open_request(
    request: Request, tenant: Tenant, client_id: str | None, target: Target, direct: bool
) -> JoseRequest:
    """Verify or decrypt the body for the route (which then reads plain JSON), or refuse: Spring
    JSON with `jose.refusal_status`, or the generic 500 of a JWE that cannot be decrypted [C] §7.3."""
    try:
        opened, payload = await _open(request, tenant, client_id, target, direct)
    except JoseError as exc:
        raise _refusal(tenant, exc) from None
    request._body = payload  # the route reads the opened payload as its body
    return opened


def _refusal(tenant: Tenant, exc: JoseError) -> WiseError:
    if exc.decryption:  # "a generic 500 Internal Server Error for decryption failures" [C] §7.3
        error = SpringError(500, "No message available", {ERROR_HEADER: exc.code})
    else:
        error = SpringError(tenant.settings.jose.refusal_status, exc.message, {ERROR_HEADER: exc.code})
    error.code = exc.code
    error.note = Note(jose=f"refused:{exc.code}")
    return error


async def _open(
    http: Request, tenant: Tenant, client_id: str | None, target: Target, direct: bool
) -> tuple[JoseRequest, bytes]:
    body = await read_body(http)
    method = http.headers.get("x-tw-jose-method")
    name = method.strip().lower() if method is not None else None
    if name is None:
        raise JoseError("missing_method", f"A {JOSE_MEDIA} body needs X-TW-JOSE-Method: jws, jwe or jws+jwe")
    if name not in METHODS:
        raise JoseError(
            "unsupported_method", f"X-TW-JOSE-Method must be jws, jwe or jws+jwe, not {name[:40]!r}"
        )
    if client_id is None:
        raise JoseError(
            "no_client", "JOSE uses a partner's uploaded keys: call with a token issued to an API client"
        )
    request = JoseRequest(name, client_id)
    request.direct = name != "jws" and direct
    payload = b""
    if body.strip():
        try:
            text = body.decode("ascii")
        except UnicodeDecodeError:
            raise JoseError(
                "malformed", "A JOSE body is a compact serialisation (ASCII)", decryption=name != "jws"
            ) from None
        if name == "jws":
            payload = _verify(target, tenant, request, text)
        else:
            header, inner, request.cek = tenant.jose.decrypt(text)
            if "url" in header:
                _check_url(target, header["url"])
            if name == "jwe":
                payload = inner
            else:
                try:
                    signed = inner.decode("ascii")
                except UnicodeDecodeError:
                    raise JoseError(
                        "malformed_jws", "The decrypted JWE does not hold a compact JWS"
                    ) from None
                payload = _verify(target, tenant, request, signed)
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


def _verify(target: Target, tenant: Tenant, request: JoseRequest, text: str) -> bytes:
    header, payload = tenant.jose.verify(request.client_id, text)
    if "url" not in header:
        raise JoseError("missing_url", "The JWS header must carry the request path as `url`")
    _check_url(target, header["url"])
    request.kid = header.get("kid") if isinstance(header.get("kid"), str) else None
    request.alg = header["alg"]
    return payload


def _check_url(target: Target, url: Any) -> None:
    """The `url` header must be the request's path [C] §7.2 (with its query string, if sent)."""
    sent, query = target.sent, target.query
    allowed = {target.routed, sent}
    if query:
        allowed |= {f"{path}?{query}" for path in tuple(allowed)}
    if not isinstance(url, str) or url not in allowed:
        shown = repr(url) if len(repr(url)) <= 120 else repr(url)[:120] + "…"
        raise JoseError("url_mismatch", f"The JWS url {shown} does not match the request path {sent!r}")


def seal_response(response: Response, request: JoseRequest, tenant: Tenant) -> Response:
    """The answer signed by Wise (jws), encrypted to the partner's key (jwe), or both; errors only
    with `jose.wrap_errors`; empty answers are not encrypted [C] §7.3."""
    body = bytes(response.body)
    status = response.status_code
    if not body or not (200 <= status < 300 or tenant.settings.jose.wrap_errors):
        return response
    sealed = _seal(body, request, tenant)
    headers = {k: v for k, v in response.headers.items() if k not in ("content-type", "content-length")}
    return Response(sealed, status, headers=headers, media_type=JOSE_MEDIA)


def _seal(body: bytes, request: JoseRequest, tenant: Tenant) -> str:
    if request.method != "jwe":
        wanted = tenant.settings.jose.response_signing_algorithm
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
