"""SCA over HTTP (reference §5): the one-time-token framework partners use to clear a token's
challenges (§5.3). The guard of SCA-protected endpoints is the pipeline's: a route declares its
action (`endpoint(..., sca=ScaAction.TRANSFER__FUND)`) and answers `ScaGuarded`.

The framework endpoints take the token in the `One-Time-Token` header and a user's bearer token:
status, SMS/WhatsApp/voice trigger and verify (OTP 111111 in the sandbox), and PIN verify, whose
body is a JWE and whose answer is directly encrypted (§5.3, §7.3).
"""

from __future__ import annotations

from mockwise._domain.entries import Note
from mockwise._domain.errors import FieldError, SpringError, ValidationError, not_found
from mockwise._domain.sca import ChallengeType, OneTimeToken
from mockwise._http.auth import Caller
from mockwise._http.envelope import JOSE_MEDIA
from mockwise._http.pipeline import NotedResponse, RouteCall, endpoint
from mockwise._http.responses import WiseJSON

# The one-time-token framework (§5.3) ----------------------------------------------------------------


def _presented(call: RouteCall) -> str:
    value = call.request.headers.get("one-time-token")
    if not value:
        raise ValidationError([FieldError("NotNull", "must not be null", "One-Time-Token")])
    return value


def _token(call: RouteCall) -> tuple[Caller, str, OneTimeToken]:
    caller = call.bearer
    value = _presented(call)
    try:
        token = caller.tenant.sca.find(caller.user(), value)
    except LookupError as exc:
        raise not_found(str(exc)) from None
    return caller, value, token


async def status(call: RouteCall) -> NotedResponse:
    """
    summary: A one-time token's challenges and whether each is passed
    description: >
      `{"oneTimeTokenProperties": {oneTimeToken, challenges, validity, actionType, userId}}`
      (reference §5.3). The token is ready when no required challenge is left unpassed.
    tags: [sca]
    security: [{bearerAuth: []}]
    parameters:
      - {$ref: "#/components/parameters/OneTimeToken"}
    responses:
      200: {description: "The token's properties."}
      400: {$ref: "#/components/responses/ValidationErrors"}
      401: {$ref: "#/components/responses/OAuthError"}
      403: {$ref: "#/components/responses/SpringError"}
      404: {$ref: "#/components/responses/SpringError"}
    """
    _, value, token = _token(call)
    return NotedResponse(
        WiseJSON({"oneTimeTokenProperties": token.properties(value)}), Note(sca=f"status ott={token.id}")
    )


def _channel(call: RouteCall) -> ChallengeType:
    return ChallengeType(call.exchange.route.split("/")[-2].upper())


async def trigger(call: RouteCall) -> NotedResponse:
    """
    summary: Send the one-time token's OTP by SMS, WhatsApp or voice (always 111111 in the sandbox)
    tags: [sca]
    security: [{bearerAuth: []}]
    parameters:
      - {$ref: "#/components/parameters/OneTimeToken"}
    responses:
      200: {description: "`{obfuscatedPhoneNo}`"}
      400: {$ref: "#/components/responses/ValidationErrors"}
      401: {$ref: "#/components/responses/OAuthError"}
      403: {$ref: "#/components/responses/SpringError"}
      404: {$ref: "#/components/responses/SpringError"}
    """
    caller, value, token = _token(call)
    channel = _channel(call)
    phone = caller.tenant.sca.trigger(caller.user(), value, channel)
    return NotedResponse(
        WiseJSON({"obfuscatedPhoneNo": phone}), Note(sca=f"triggered:{channel.value} ott={token.id}")
    )


async def _verify(call: RouteCall, kind: ChallengeType, field: str) -> NotedResponse:
    caller, value, token = _token(call)
    data = await call.json()
    try:
        caller.tenant.sca.verify(caller.user(), value, kind, data.get(field))
    except ValidationError as refusal:
        refusal.note = Note(sca=f"failed:{kind.value}:{refusal.code} ott={token.id}")
        raise
    return NotedResponse(
        WiseJSON({"oneTimeTokenProperties": token.properties(value, pending_only=True)}),
        Note(sca=f"passed:{kind.value} ott={token.id}"),
    )


async def verify_otp(call: RouteCall) -> NotedResponse:
    """
    summary: Check the OTP sent on this channel; five failures in a row block new tokens for 15 minutes
    tags: [sca]
    security: [{bearerAuth: []}]
    parameters:
      - {$ref: "#/components/parameters/OneTimeToken"}
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
    return await _verify(call, _channel(call), "otpCode")


async def verify_pin(call: RouteCall) -> NotedResponse:
    """
    summary: Check the user's PIN, sent as a JWE; the answer is directly encrypted
    description: >
      The body is a JWE (`X-TW-JOSE-Method: jwe`) of `{"pin": "1234"}`; the answer is encrypted
      with the request's content key (`alg: dir`, reference §5.3, §7.3).
    tags: [sca]
    security: [{bearerAuth: []}]
    parameters:
      - {$ref: "#/components/parameters/OneTimeToken"}
    responses:
      200: {description: "The token's properties, as application/jose+json."}
      400: {$ref: "#/components/responses/ValidationErrors"}
      401: {$ref: "#/components/responses/OAuthError"}
      403: {$ref: "#/components/responses/SpringError"}
      404: {$ref: "#/components/responses/SpringError"}
      500: {$ref: "#/components/responses/SpringError"}
    """
    if call.jose is None or call.jose.method != "jwe":
        raise SpringError(
            400, f"The PIN is sent encrypted: Content-Type: {JOSE_MEDIA} and X-TW-JOSE-Method: jwe"
        )
    return await _verify(call, ChallengeType.PIN, "pin")


routes = [
    endpoint("/v1/one-time-token/status", status, methods=["GET"]),
    endpoint("/v1/identity/one-time-token/status", status, methods=["GET"]),  # deprecated alias §5.3
    *(
        endpoint(f"/v1/one-time-token/{channel}/{step}", handler, methods=["POST"])
        for channel in ("sms", "whatsapp", "voice")
        for step, handler in (("trigger", trigger), ("verify", verify_otp))
    ),
    endpoint("/v1/one-time-token/pin/verify", verify_pin, methods=["POST"], jose="direct"),
]
