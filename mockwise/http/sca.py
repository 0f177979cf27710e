"""SCA over HTTP (reference §5): the guard of SCA-protected endpoints, and the one-time-token
framework partners use to clear a token's challenges (§5.3).

A protected route calls the guard after its own checks, and stamps its answer:

    approval = await require_sca(request, caller, profile, ScaAction.BALANCE__GET_STATEMENT)
    ...
    return approved(WiseJSON(statement), approval)

The framework endpoints take the token in the `One-Time-Token` header and a user's bearer token:
status, SMS/WhatsApp/voice trigger and verify (OTP 111111 in the sandbox), and PIN verify, whose
body is a JWE and whose answer is directly encrypted (§5.3, §7.3).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mockwise.domain.model import Profile
from mockwise.domain.sca import Approval, ChallengeType, OneTimeToken, ScaAction
from mockwise.errors import FieldError, SpringError, ValidationError, not_found
from mockwise.http.auth import Caller, bearer
from mockwise.http.edge import exchange_of
from mockwise.http.forms import json_object
from mockwise.http.jose import JOSE_MEDIA, jose_of
from mockwise.http.responses import WiseJSON

APPROVAL_HEADER = "x-2fa-approval"
RESULT_HEADER = "x-2fa-approval-result"


async def require_sca(request: Request, caller: Caller, profile: Profile, action: ScaAction) -> Approval:
    """Let the request through, or answer the SCA challenge (403 + `x-2fa-approval`) §5.2."""
    approval = caller.tenant.sca.authorize(
        caller.user(),
        profile,
        action,
        caller.kind,
        request.headers.get(APPROVAL_HEADER),
        request.headers.get("x-signature"),
    )  # a refusal (ScaChallenge, ScaRefused, ScaLocked) reaches the journal with its `journal`
    exchange_of(request.scope).entry.sca = approval.journal
    return approval


def approved(response: Response, approval: Approval) -> Response:
    """`x-2fa-approval-result: APPROVED` on the answer to a request a one-time token cleared §5.2."""
    if approval.stamped:
        response.headers[RESULT_HEADER] = "APPROVED"
    return response


# The one-time-token framework (§5.3) ----------------------------------------------------------------


def _presented(request: Request) -> str:
    value = request.headers.get("one-time-token")
    if not value:
        raise ValidationError([FieldError("NotNull", "must not be null", "One-Time-Token")])
    return value


async def _token(request: Request) -> tuple[Caller, str, OneTimeToken]:
    caller = await bearer(request)
    value = _presented(request)
    try:
        token = caller.tenant.sca.find(caller.user(), value)
    except LookupError as exc:
        raise not_found(str(exc)) from None
    return caller, value, token


async def status(request: Request) -> Response:
    """
    summary: A one-time token's challenges and whether each is passed
    description: >
      `{"oneTimeTokenProperties": {oneTimeToken, challenges, validity, actionType, userId}}`
      (reference §5.3). The token is ready when no required challenge is left unpassed.
    tags: [sca]
    security: [{bearerAuth: []}]
    parameters:
      - {name: One-Time-Token, in: header, required: true, schema: {type: string}}
    responses:
      200: {description: "The token's properties."}
      400: {$ref: "#/components/responses/ValidationErrors"}
      401: {$ref: "#/components/responses/OAuthError"}
      403: {$ref: "#/components/responses/SpringError"}
      404: {$ref: "#/components/responses/SpringError"}
    """
    _, value, token = await _token(request)
    exchange_of(request.scope).entry.sca = f"status ott={token.id}"
    return WiseJSON({"oneTimeTokenProperties": token.properties(value)})


def _channel(request: Request) -> ChallengeType:
    return ChallengeType(request.url.path.split("/")[-2].upper())


async def trigger(request: Request) -> Response:
    """
    summary: Send the one-time token's OTP by SMS, WhatsApp or voice (always 111111 in the sandbox)
    tags: [sca]
    security: [{bearerAuth: []}]
    parameters:
      - {name: One-Time-Token, in: header, required: true, schema: {type: string}}
    responses:
      200: {description: "`{obfuscatedPhoneNo}`"}
      400: {$ref: "#/components/responses/ValidationErrors"}
      401: {$ref: "#/components/responses/OAuthError"}
      403: {$ref: "#/components/responses/SpringError"}
      404: {$ref: "#/components/responses/SpringError"}
    """
    caller, value, token = await _token(request)
    channel = _channel(request)
    phone = caller.tenant.sca.trigger(caller.user(), value, channel)
    exchange_of(request.scope).entry.sca = f"triggered:{channel.value} ott={token.id}"
    return WiseJSON({"obfuscatedPhoneNo": phone})


async def _verify(request: Request, kind: ChallengeType, field: str) -> Response:
    caller, value, token = await _token(request)
    data = await json_object(request)
    exchange = exchange_of(request.scope)
    try:
        caller.tenant.sca.verify(caller.user(), value, kind, data.get(field))
    except ValidationError as refusal:
        exchange.entry.sca = f"failed:{kind.value}:{refusal.code} ott={token.id}"
        raise
    exchange.entry.sca = f"passed:{kind.value} ott={token.id}"
    return WiseJSON({"oneTimeTokenProperties": token.properties(value, pending_only=True)})


async def verify_otp(request: Request) -> Response:
    """
    summary: Check the OTP sent on this channel; five failures in a row block new tokens for 15 minutes
    tags: [sca]
    security: [{bearerAuth: []}]
    parameters:
      - {name: One-Time-Token, in: header, required: true, schema: {type: string}}
    requestBody:
      content:
        application/json:
          schema: {type: object, properties: {otpCode: {type: string, example: "111111"}}}
    responses:
      200: {description: "The token's properties, with the challenges still to pass."}
      400: {$ref: "#/components/responses/ValidationErrors"}
      401: {$ref: "#/components/responses/OAuthError"}
      403: {$ref: "#/components/responses/SpringError"}
      404: {$ref: "#/components/responses/SpringError"}
    """
    return await _verify(request, _channel(request), "otpCode")


async def verify_pin(request: Request) -> Response:
    """
    summary: Check the user's PIN, sent as a JWE; the answer is directly encrypted
    description: >
      The body is a JWE (`X-TW-JOSE-Method: jwe`) of `{"pin": "1234"}`; the answer is encrypted
      with the request's content key (`alg: dir`, reference §5.3, §7.3).
    tags: [sca]
    security: [{bearerAuth: []}]
    parameters:
      - {name: One-Time-Token, in: header, required: true, schema: {type: string}}
    responses:
      200: {description: "The token's properties, as application/jose+json."}
      400: {$ref: "#/components/responses/ValidationErrors"}
      401: {$ref: "#/components/responses/OAuthError"}
      403: {$ref: "#/components/responses/SpringError"}
      404: {$ref: "#/components/responses/SpringError"}
      500: {$ref: "#/components/responses/SpringError"}
    """
    jose = jose_of(request)
    if jose is None or jose.method != "jwe":
        await bearer(request)
        raise SpringError(
            400, f"The PIN is sent encrypted: Content-Type: {JOSE_MEDIA} and X-TW-JOSE-Method: jwe"
        )
    return await _verify(request, ChallengeType.PIN, "pin")


routes = [
    Route("/v1/one-time-token/status", status, methods=["GET"]),
    Route("/v1/identity/one-time-token/status", status, methods=["GET"]),  # deprecated alias §5.3
    *(
        Route(f"/v1/one-time-token/{channel}/{step}", handler, methods=["POST"])
        for channel in ("sms", "whatsapp", "voice")
        for step, handler in (("trigger", trigger), ("verify", verify_otp))
    ),
    Route("/v1/one-time-token/pin/verify", verify_pin, methods=["POST"]),
]
