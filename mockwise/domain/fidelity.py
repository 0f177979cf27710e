"""Every choice mockwise makes where Wise is silent, in one place.

Confirmed Wise behaviour (tagged [C] in the reference) is not configurable: it is simply what the
sandbox does. Where Wise is silent or its sources disagree, the sandbox behaves like Spring
Security OAuth2 (reference §2.7) and the choice lives here, named, documented and switchable per
tenant, so a user who learns the real answer can change it: `Fidelity(refresh_token_rotation=True)`.

"§" numbers refer to `docs/wise-reference.md`.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin, get_type_hints

#: Access tokens (client-credentials and user) live 12 hours [C] §2.4.
ACCESS_TOKEN_LIFETIME = 12 * 3600
#: Refresh tokens: "up to 20 years"; `refresh_token_expires_in: 628639555` in the docs [C] §2.4.
REFRESH_TOKEN_LIFETIME = 628_639_556
#: Authorization codes: 30 minutes, single use [C] §2.4.
AUTHORIZATION_CODE_LIFETIME = 30 * 60
#: Claim-account codes: 5 minutes [C] §2.4.
CLAIM_ACCOUNT_CODE_LIFETIME = 5 * 60
#: The sandbox's 2FA / OTP code is always 111111 [C] §1.
SANDBOX_OTP = "111111"
#: Five failed 2FA attempts in a row lock the user out for 15 minutes: Wise's rule for one-time-token
#: challenges [C] §5.3, §9, applied to the authorize page's 2FA step too [I].
TWO_FACTOR_MAX_FAILURES = 5
TWO_FACTOR_LOCKOUT = 15 * 60
#: Personal API tokens: "lifetime of the token is 10 years" [C] §2.4 (old docs).
PERSONAL_TOKEN_LIFETIME = 10 * 365 * 24 * 3600
#: Registration codes are chosen by the partner, at least 32 characters [C] §4.
REGISTRATION_CODE_MIN_LENGTH = 32
#: `scope` is always "transfers" [C] §2.3.
SCOPE = "transfers"

#: EU/EEA and UK countries, where PSD2 bars personal tokens from statements and funding [C] §5.1.
PSD2_COUNTRIES = frozenset({
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",  # EU
    "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",  # EU
    "IS", "LI", "NO",  # EEA
    "GB",
})  # fmt: skip

TokenFormat = Literal["uuid", "jwe"]
ResponseFields = Literal["current", "legacy"]


@dataclass(frozen=True, slots=True)
class Fidelity:
    """The sandbox's answers to questions Wise's documentation leaves open (reference §13)."""

    registration_code_failure_status: int = 401
    """Status of `invalid_grant` / "Invalid user credentials." on the registration_code grant.
    The API reference says 401, the guides (and seed 003) say 400 [C, sources disagree] §2.6."""

    refresh_token_rotation: bool = False
    """Whether a refresh returns a new refresh token (killing the old one). Wise is silent [?] §2.5;
    Spring's default `reuseRefreshToken=true` returns the same value."""

    client_credentials_reuse: bool = False
    """Whether a second client_credentials call while a token is valid returns that same token with a
    smaller `expires_in` (Spring's default token store) instead of a fresh one. Unconfirmed [I] §2.5;
    off by default because Wise's advice of "a token per worker" implies tokens are independent."""

    client_auth_in_body: bool = False
    """Accept `client_id`/`client_secret` as form fields instead of HTTP Basic. Wise documents Basic
    for every grant [C] §2.1; Spring's `allowFormAuthenticationForClients` is off by default."""

    token_params_from_query: bool = False
    """Read grant parameters from the query string too (Spring does [I] §2.1). Off: Wise documents
    a form body, and a secret or code in a URL ends up in logs."""

    echo_token_in_invalid_token: bool = False
    """Put the rejected token itself in `error_description` (older sandbox behaviour [O] §10) instead
    of "Invalid token" [C]."""

    client_credentials_token_format: TokenFormat = "uuid"
    """"uuid", or "jwe": long five-part tokens like the encrypted JWTs Wise migrates client-credentials
    tokens to by 7 Jan 2027 [C] §2.4, to catch clients that assume a UUID."""

    token_response_fields: ResponseFields = "current"
    """"current" (with `expires_at`, `refresh_token_expires_*`) or "legacy": the pre-2023 shape with
    only `access_token`, `token_type`, `refresh_token`, `expires_in`, `scope` [C] §2.3."""

    link_per_profile: bool = True
    """A user's tokens are kept per (client, user, profile): re-linking one profile replaces that
    profile's refresh token only. Wise is silent on profiles here [?] §2.5, §3."""

    bound_token_lists_only_its_profile: bool = True
    """A token from the authorize page is bound to one profile [C] §3; whether it still *lists* the
    user's other profiles is unknown [?] §11. True: lists show only the bound profile."""

    client_credentials_on_user_endpoints: Literal[401, 403] = 403
    """What a client-credentials token gets on an endpoint that needs a user (`/v1/me`...) [?] §11."""

    refresh_survives_reclaim: bool = True
    """A reclaimed account's registration code stops working [C] §4; Wise does not say its refresh
    tokens die too [?]. True: they keep working until revoked."""

    deny_redirects: bool = True
    """Deny on the authorize page redirects at once to `redirect_uri?error=access_denied&...`.
    Wise documents only that the user "may also see a link back" with `error` and
    `error_description` [C] §3; False: show Wise's own page with that link instead."""

    access_denied_description: str = "User denied access"
    """`error_description` sent with `error=access_denied` when the user denies. Wise's values are
    undocumented [I] §3; this is Spring Security OAuth2's message (§2.7)."""

    login_session_lifetime: int = 3600
    """Seconds (tenant clock) a sign-in on the authorize page lasts: within it a second authorize
    request skips the login (seed 004: "if they are not already logged in"). Wise is silent [?]."""

    expired_token_memory: int = 24 * 3600
    """Seconds (tenant clock) an expired token is remembered before it is collected. Wise answers
    401 `invalid_token` to expired and unknown tokens alike [C] §10, so this only decides how long
    a request carrying one is still journaled under its tenant as "expired" rather than with the
    sandbox's unrouted requests. Longer keeps more memory when a tenant issues millions of tokens."""

    # Enhanced security: SCA, JOSE, rate limits (reference §5, §7, §9) ----------------------------

    sca_personal_tokens: bool = False
    """Whether personal tokens are challenged on SCA-protected endpoints (§5.5). Wise's sandbox has
    SCA for personal tokens off until it is switched on at its public-keys page [C] §1, so off here
    too; `tenant.sca.require(user, True)` switches it on for one user (the standalone server does so
    for its seeded business user)."""

    sca_user_tokens: bool = False
    """Whether OAuth user tokens are challenged ("SCA over API", §5.3). Wise enables it per partner
    after a survey [C]; off by default here, switchable per tenant and per user."""

    sca_challenge_body: Literal["spring", "empty"] = "spring"
    """The body of the 403 SCA challenge: the documented Spring body "You are forbidden to send this
    request" [C] §5.2, or none (header-only, as one third-party client's tests saw [O])."""

    sca_signing_accounts: Literal["business_profile", "business_user", "any"] = "business_profile"
    """Since 2024 a signed one-time token works only for business accounts [C] §5.1; how Wise tells
    one is unknown [?]. "business_profile": the profile in the request's path must be a business
    profile; "business_user": the user must own a business profile; "any": pre-2024 behaviour."""

    sca_statement_exemption_days: int = 90
    """Statement SCA is needed once every 90 days [C] §5.2; 0 challenges every statement request
    (handy when a test wants to see the challenge again)."""

    sca_low_risk_challenges: str = "PIN"
    """The factors a low-risk one-time token (balance statement) asks for, comma-separated from PIN,
    SMS (alternatives WHATSAPP, VOICE). Wise picks from the user's enrolled factors [C] §5.3; the
    docs' statement example asks for a PIN."""

    sca_high_risk_challenges: str = "PIN,SMS"
    """The factors a high-risk one-time token (funding) asks for: "at least two authentication
    methods of different types" [C] §5.3, so a PIN (knowledge) and a phone OTP (possession)."""

    sca_pin: str = "1234"
    """The PIN every sandbox user is enrolled with. Wise's sandbox PIN is not documented [?] (its OTP
    code is always 111111 [C] §1)."""

    sca_lockout_status: Literal[403, 429] = 429
    """What a protected endpoint answers while a user is locked out after 5 failed checks ("OTT
    creation will be blocked for 15 minutes" [C] §5.3; the answer itself is [?]): 429 with
    `Retry-After` (Wise lists the rule under rate limits, §9), or 403 REJECTED with no new token."""

    jose_refusal_status: Literal[400, 401, 403] = 400
    """Status of a refused JOSE request (bad signature, `url` mismatch, unknown `kid`, unsupported
    algorithm, missing partner key). Wise documents none [?] §7.3 (only decryption failures: 500
    [C]); the body is Spring's error JSON naming the reason."""

    jose_response_signing_algorithm: str = "ES512"
    """The algorithm the sandbox signs JWS responses with: "ES512" as in the docs' example [C] §7.2,
    another of ES256/384/512 and PS256/384/512, or "request" to mirror the request's `alg` [?]."""

    jose_wrap_errors: bool = False
    """Whether error responses (4xx/5xx) to JOSE requests are signed or encrypted too [?]. Off:
    errors come back as plain JSON, readable even when the client's JOSE set-up is what failed."""

    rate_limit_scope: Literal["client", "tenant"] = "client"
    """What the limits of §9 count: per API client (personal tokens: per user), as the docs' "per
    client" reading suggests [?], or all of the tenant's requests together."""

    rate_limit_retry_after: bool = True
    """Send `Retry-After` on 429. Wise sends it "sometimes" [C] §9; False leaves it out, so a
    client's own backoff is exercised."""

    mtls_refusal_status: Literal[401, 403] = 401
    """Status of an HTTP-level mTLS refusal: an mTLS-enforced client on the TLS-only host, or a
    certificate that is expired or not yet valid (tenant clock), revoked, or not the client's. Wise
    is silent [?] §6, §13 q5: 401 answers `unauthorized` (Spring's failed authentication), 403
    `access_denied` (Spring's AccessDeniedException); both with a clear `error_description`."""

    mtls_token_binding: bool = False
    """Bind access tokens issued over mTLS to the certificate presented (RFC 8705 §3): a call with
    such a token must present that certificate, or get 401 `invalid_token`. Wise does not say it
    binds tokens [?] §6."""

    def __post_init__(self) -> None:
        """Refuse values the sandbox could not act on: a choice outside its Literal, a negative
        duration, count or status (a ValueError, which the control plane answers with a 400)."""
        for name, kind in _hints().items():
            value = getattr(self, name)
            if get_origin(kind) is Literal and value not in get_args(kind):
                choices = ", ".join(repr(choice) for choice in get_args(kind))
                raise ValueError(f"{name!r} must be one of {choices}")
            if type(value) in (int, float) and value < 0:
                raise ValueError(f"{name!r} must not be negative")

    def replace(self, **changes: Any) -> Fidelity:
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def field_docs(cls) -> dict[str, str]:
        """Each setting's documentation, for the control plane and the docs."""
        import ast
        import inspect

        source = inspect.getsource(cls)
        tree = ast.parse(source)
        docs: dict[str, str] = {}
        body = tree.body[0].body  # type: ignore[attr-defined]
        for node, after in itertools.pairwise(body):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
            ):
                docs[node.target.id] = " ".join(str(after.value.value).split())
        return docs


@functools.cache
def _hints() -> dict[str, Any]:
    return get_type_hints(Fidelity)
