"""User creation over API (reference §4): `POST /v1/user/signup/registration_code` and
`POST /v1/users/exists`, both with the partner's client-credentials token."""

from __future__ import annotations

from starlette.responses import Response

from mockwise._domain.directory import is_email
from mockwise._domain.errors import FieldError, ValidationError
from mockwise._domain.settings import REGISTRATION_CODE_MIN_LENGTH
from mockwise._http.forms import require_valid, string_field
from mockwise._http.pipeline import RouteCall, endpoint
from mockwise._http.render import new_user
from mockwise._http.responses import WiseJSON

# [C] §4: the languages user creation accepts; EN when absent.
LANGUAGES = ("EN", "US", "PT", "ES", "FR", "DE", "IT", "JA", "RU", "PL", "HU", "TR", "RO", "NL", "HK")
MAX_INT = 2147483647


async def signup(call: RouteCall) -> Response:
    """
    summary: Create a user over API, with a registration code the partner chose
    tags: [users]
    security: [{bearerAuth: []}]
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [email, registrationCode]
            properties:
              email: {type: string, format: email, maxLength: 254}
              registrationCode: {type: string, minLength: 32}
              language: {type: string, enum: [EN, US, PT, ES, FR, DE, IT, JA, RU, PL, HU, TR, RO, NL, HK]}
              sendAuthorizationCodeAsEmail: {type: boolean}
    responses:
      200: {description: "The new user: {id, name: null, email, active: true, details: null}."}
      400: {$ref: "#/components/responses/ValidationErrors"}
      401: {$ref: "#/components/responses/OAuthError"}
      403: {$ref: "#/components/responses/SpringError"}
      409: {$ref: "#/components/responses/ValidationErrors"}
      422: {$ref: "#/components/responses/ValidationErrors"}
    """
    caller = call.bearer
    client = caller.require_partner()
    data = await call.json()

    errors: list[FieldError] = []
    email = string_field(data, "email", errors)
    code = string_field(data, "registrationCode", errors)
    if code is not None and len(code) < REGISTRATION_CODE_MIN_LENGTH:
        errors.append(
            FieldError(
                "Size",
                f"size must be between {REGISTRATION_CODE_MIN_LENGTH} and {MAX_INT}",
                "registrationCode",
                [str(MAX_INT), str(REGISTRATION_CODE_MIN_LENGTH)],
            )
        )
    language = data.get("language", "EN")
    if not isinstance(language, str) or language.upper() not in LANGUAGES:
        errors.append(
            FieldError("NotValid", f"must be one of {', '.join(LANGUAGES)}", "language", ["language"])
        )
    if "sendAuthorizationCodeAsEmail" in data and not isinstance(data["sendAuthorizationCodeAsEmail"], bool):
        errors.append(FieldError("TypeMismatch", "must be a boolean", "sendAuthorizationCodeAsEmail"))
    require_valid(errors)
    assert email is not None and code is not None and isinstance(language, str)
    if not is_email(email):
        # [C] §4: a bad e-mail is a 422 with code ERROR (the directory's rule decides what is bad).
        raise ValidationError(
            [FieldError("ERROR", "Please provide a valid email", "email", ["email", email])], 422
        )

    user = caller.tenant.sign_up(
        client, email, code, language.upper(), send_email=data.get("sendAuthorizationCodeAsEmail") is True
    )
    return WiseJSON(new_user(user))  # 200, not 201 (§4)


async def exists(call: RouteCall) -> Response:
    """
    summary: Whether a Wise user with this e-mail exists
    tags: [users]
    security: [{bearerAuth: []}]
    requestBody:
      required: true
      content:
        application/json:
          schema: {type: object, required: [email], properties: {email: {type: string}}}
    responses:
      200: {description: "{exists: true|false}"}
      400: {$ref: "#/components/responses/ValidationErrors"}
      401: {$ref: "#/components/responses/OAuthError"}
      403: {$ref: "#/components/responses/SpringError"}
    """
    caller = call.bearer
    caller.require_partner()
    data = await call.json()
    errors: list[FieldError] = []
    email = string_field(data, "email", errors)
    require_valid(errors)
    assert email is not None
    return WiseJSON({"exists": caller.tenant.directory.by_email(email) is not None})


routes = [
    endpoint("/v1/user/signup/registration_code", signup, methods=["POST"]),
    endpoint("/v1/users/exists", exists, methods=["POST"]),
]
