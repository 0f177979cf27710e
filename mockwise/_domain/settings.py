"""Every choice mockwise makes where Wise is silent, in one place: the tenant's `Settings`.

Confirmed Wise behaviour (tagged [C] in the reference) is not configurable where it is a fact of
the lifecycle (the constants below); where Wise is silent or its sources disagree, the sandbox
behaves like Spring Security OAuth2 (reference §2.7) and the choice is a setting here, named,
documented with its evidence and switchable per tenant, so a user who learns the real answer can
change it.

Settings are grouped in sections (`oauth`, `authorize`, `sca`, `jose`, `rate_limits`, `mtls`,
`limits`, `webhooks`) and addressed by dotted keys, in Python and over the control plane alike:

    settings = Settings().apply({"oauth.refresh_token_rotation": True, "sca.pin": "9876"})

They are part of a tenant's seed: `tenant.reset()` restores the settings it was seeded with.
"§" numbers refer to `docs/wise-reference.md`.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import itertools
import json
import re
import textwrap
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, get_args, get_origin, get_type_hints

from mockwise._domain.records import RecordError

#: Access tokens (client-credentials and user) live 12 hours [C] §2.4: the default of
#: `oauth.access_token_lifetime`.
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
#: `X-Rate-Limited-By` in Wise's OAS example [C] §9.
LIMITED_BY = "wise-public-api"

#: EU/EEA and UK countries, where PSD2 bars personal tokens from statements and funding [C] §5.1.
PSD2_COUNTRIES = frozenset({
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",  # EU
    "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",  # EU
    "IS", "LI", "NO",  # EEA
    "GB",
})  # fmt: skip

TokenFormat = Literal["uuid", "jwe"]
ResponseFields = Literal["current", "legacy", "minimal"]
TokenType = Literal["bearer", "Bearer", "BEARER"]
SigningAlgorithm = Literal["ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "request"]

_MAX_RATE = 1_000_000  # a rate-limit window holds at most this many instants per caller


@dataclass(frozen=True, slots=True)
class _Rule:
    """What a field's value must also pass (`check` answers None, or what is wrong), and the same
    rule as JSON Schema, for the control plane's OpenAPI."""

    check: Callable[[Any], str | None]
    schema: Mapping[str, Any]


def _between(low: int, high: int) -> _Rule:
    def check(value: Any) -> str | None:
        return None if low <= value <= high else f"must be a whole number from {low} to {high}"

    return _Rule(check, {"minimum": low, "maximum": high})


def _header_value(value: Any) -> str | None:
    if 0 < len(value) <= 100 and value.isascii() and value.isprintable():
        return None
    return "must be a short printable ASCII string (it is a header value)"


_HEADER_VALUE = _Rule(_header_value, {"minLength": 1, "maxLength": 100, "pattern": "^[ -~]+$"})


def _check(rule: _Rule) -> Any:
    """A field whose value must also pass `rule`."""
    return {"check": rule.check, "schema": rule.schema}


class Section:
    """A group of settings: a frozen dataclass whose fields each carry a docstring below them."""

    name: ClassVar[str]

    def __post_init__(self) -> None:
        """Refuse values the sandbox cannot act on: a wrong type, a choice outside its Literal, a
        negative duration or count, or one a field's own rule refuses (a ValueError: 400 on the
        control plane)."""
        for item in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, item.name)
            key = f"{self.name}.{item.name}"
            kind = _hints(type(self).__name__)[item.name]
            if get_origin(kind) is Literal:
                if value not in get_args(kind) or isinstance(value, bool) != isinstance(
                    get_args(kind)[0], bool
                ):
                    choices = ", ".join(repr(choice) for choice in get_args(kind))
                    raise ValueError(f"{key!r} must be one of {choices}")
            elif type(value) is not kind:
                raise ValueError(f"{key!r} must be {kind.__name__}, not {type(value).__name__}")
            elif kind is int and value < 0:
                raise ValueError(f"{key!r} must not be negative")
            rule = item.metadata.get("check")
            problem = rule(value) if rule is not None else None
            if problem is not None:
                raise ValueError(f"{key!r} {problem}")


@functools.cache
def _hints(section: str) -> dict[str, Any]:
    return get_type_hints(globals()[section])


@dataclass(frozen=True, slots=True)
class OAuth(Section):
    """`POST /oauth/token`, tokens and the bearer checks (reference §2, §10, §11)."""

    name: ClassVar[str] = "oauth"

    registration_code_failure_status: Literal[400, 401] = 401
    """Status of `invalid_grant` / "Invalid user credentials." on the registration_code grant.
    The API reference says 401, the guides say 400 [C, sources disagree] §2.6."""

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
    """"current" (with `expires_at`, `refresh_token_expires_*`), "legacy": the pre-2023 shape with
    only `access_token`, `token_type`, `refresh_token`, `expires_in`, `scope` [C] §2.3, or
    "minimal": what RFC 6749 §5.1 requires and nothing more (`access_token`, `token_type`, and
    `refresh_token` where one is issued): no `expires_in` (RECOMMENDED, not required), no `scope`
    (OPTIONAL when it is the one asked for)."""

    access_token_lifetime: int = field(
        default=ACCESS_TOKEN_LIFETIME, metadata=_check(_between(2, 10 * 365 * 86400))
    )
    """Seconds an access token (client-credentials or user) lives: 12 hours, `expires_in: 43199`
    [C] §2.4; Wise's own docs show `expires_in: 30021` once [C] §2.3, and RFC 6749 §5.1 leaves the
    lifetime to the server. A client must go by what it is told, not by twelve hours."""

    token_type: TokenType = "bearer"
    """How `token_type` is spelled: Wise sends "bearer" [C] §2.3; RFC 6749 §5.1 says the value is
    case-insensitive, so "Bearer" and "BEARER" are the same answer."""

    extra_token_fields: bool = False
    """Add fields Wise has not documented to token responses: RFC 6749 §5.1 lets a server add
    parameters and says a client MUST ignore those it does not know; Wise added `expires_at` and
    `refresh_token_expires_*` in 2025 [C] §2.3 and may add more."""

    refresh_response_refresh_token: Literal["same", "omitted"] = "same"
    """Without rotation, what a refresh answer says of the refresh token: "same" gives the one
    presented back (Spring's `reuseRefreshToken`, [I] §2.5), "omitted" leaves it out: RFC 6749 §6
    (the server MAY issue a new one; a client keeps the old one when none comes back)."""

    link_per_profile: bool = True
    """A user's tokens are kept per (client, user, profile): re-linking one profile replaces that
    profile's refresh token only. False: per (client, user), so linking any profile replaces the
    user's refresh token. Wise is silent on profiles here [?] §2.5, §3."""

    bound_token_lists_only_its_profile: bool = True
    """A token from the authorize page is bound to one profile [C] §3; whether it still *lists* the
    user's other profiles is unknown [?] §11. True: lists show only the bound profile."""

    client_credentials_on_user_endpoints: Literal[401, 403] = 403
    """What a client-credentials token gets on an endpoint that needs a user (`/v1/me`...) [?] §11."""

    refresh_survives_reclaim: bool = True
    """A reclaimed account's registration code stops working [C] §4; Wise does not say its refresh
    tokens die too [?]. True: they keep working until revoked; False: reclaiming revokes them."""

    expired_token_memory: int = 24 * 3600
    """Seconds (tenant clock) an expired token is remembered before it is collected. Wise answers
    401 `invalid_token` to expired and unknown tokens alike [C] §10, so this only decides how long
    a request carrying one is still journaled under its tenant as "expired" rather than with the
    sandbox's unrouted requests. Longer keeps more memory when a tenant issues millions of tokens."""


@dataclass(frozen=True, slots=True)
class Authorize(Section):
    """The authorize page (reference §3)."""

    name: ClassVar[str] = "authorize"

    deny_redirects: bool = True
    """Deny on the authorize page redirects at once to `redirect_uri?error=access_denied&...`.
    Wise documents only that the user "may also see a link back" with `error` and
    `error_description` [C] §3; False: show Wise's own page with that link instead."""

    access_denied_description: str = "User denied access"
    """`error_description` sent with `error=access_denied` when the user denies. Wise's values are
    undocumented [I] §3; this is Spring Security OAuth2's message (§2.7)."""

    login_session_lifetime: int = 3600
    """Seconds (tenant clock) a sign-in on the authorize page lasts: within it a second authorize
    request skips the login ("if they are not already logged in", §3). Wise is silent [?]."""

    login_max_failures: int = field(default=5, metadata=_check(_between(0, 1000)))
    """Wrong passwords in a row on the authorize page before the e-mail is locked (0: never).
    Wise is silent on passwords [?] §3; this is its rule for one-time-token checks, five failures
    then 15 minutes [C] §5.3, §9, which the page's 2FA step applies too [I]. Unknown e-mails are
    counted alike, so the page does not tell which accounts exist."""

    login_lockout: int = field(default=15 * 60, metadata=_check(_between(1, 365 * 86400)))
    """Seconds (tenant clock) a locked e-mail stays locked, the right password refused too: 15
    minutes, as for one-time tokens [C] §5.3."""


@dataclass(frozen=True, slots=True)
class Sca(Section):
    """Strong customer authentication and one-time tokens (reference §5)."""

    name: ClassVar[str] = "sca"

    personal_tokens: bool = False
    """Whether personal tokens are challenged on SCA-protected endpoints (§5.5). Wise's sandbox has
    SCA for personal tokens off until it is switched on at its public-keys page [C] §1, so off here
    too; `tenant.sca.require(user, True)` switches it on for one user (the standalone server does so
    for its seeded business user)."""

    user_tokens: bool = False
    """Whether OAuth user tokens are challenged ("SCA over API", §5.3). Wise enables it per partner
    after a survey [C]; off by default here, switchable per tenant and per user."""

    challenge_body: Literal["spring", "empty"] = "spring"
    """The body of the 403 SCA challenge: the documented Spring body "You are forbidden to send this
    request" [C] §5.2, or none (header-only, as one third-party client's tests saw [O])."""

    signing_accounts: Literal["business_profile", "business_user", "any"] = "business_profile"
    """Since 2024 a signed one-time token works only for business accounts [C] §5.1; how Wise tells
    one is unknown [?]. "business_profile": the profile in the request's path must be a business
    profile; "business_user": the user must own a business profile; "any": pre-2024 behaviour."""

    statement_exemption_days: int = 90
    """Statement SCA is needed once every 90 days [C] §5.2; 0 ends that exemption. The 5-minute SCA
    session still holds [C] §5.3: for five minutes after the user's last successful SCA (whatever the
    token, personal or OAuth) a statement is approved without a challenge; advance the clock past it
    to see the challenge again."""

    low_risk_challenges: str = "PIN"
    """The factors a low-risk one-time token (balance statement) asks for, comma-separated from PIN,
    SMS (alternatives WHATSAPP, VOICE). Wise picks from the user's enrolled factors [C] §5.3; the
    docs' statement example asks for a PIN."""

    high_risk_challenges: str = "PIN,SMS"
    """The factors a high-risk one-time token (funding) asks for: "at least two authentication
    methods of different types" [C] §5.3, so a PIN (knowledge) and a phone OTP (possession)."""

    pin: str = "1234"
    """The PIN every sandbox user is enrolled with. Wise's sandbox PIN is not documented [?] (its OTP
    code is always 111111 [C] §1)."""

    lockout_status: Literal[403, 429] = 429
    """What a protected endpoint answers while a user is locked out after 5 failed checks ("OTT
    creation will be blocked for 15 minutes" [C] §5.3; the answer itself is [?]): 429 with
    `Retry-After` (Wise lists the rule under rate limits, §9), or 403 REJECTED with no new token."""

    one_time_token_lifetime: int = field(default=3600, metadata=_check(_between(1, 10 * 365 * 86400)))
    """Seconds a one-time token stays usable: its `validity` is 3600 in Wise's schema [C] §2.4, §5.3.
    Shorter lets a test see a token expire without moving the clock far."""


@dataclass(frozen=True, slots=True)
class Jose(Section):
    """Signed and encrypted requests and responses (reference §7)."""

    name: ClassVar[str] = "jose"

    refusal_status: Literal[400, 401, 403] = 400
    """Status of a refused JOSE request (bad signature, `url` mismatch, unknown `kid`, unsupported
    algorithm, missing partner key). Wise documents none [?] §7.3 (only decryption failures: 500
    [C]); the body is Spring's error JSON naming the reason."""

    response_signing_algorithm: SigningAlgorithm = "ES512"
    """The algorithm the sandbox signs JWS responses with: "ES512" as in the docs' example [C] §7.2,
    another of ES256/384/512 and PS256/384/512, or "request" to mirror the request's `alg` [?]."""

    wrap_errors: bool = False
    """Whether error responses (4xx/5xx) to JOSE requests are signed or encrypted too [?]. Off:
    errors come back as plain JSON, readable even when the client's JOSE set-up is what failed."""


@dataclass(frozen=True, slots=True)
class RateLimits(Section):
    """Rate limits (reference §9). Off unless asked for (the standalone server turns them on).
    Counted after authentication, per caller: requests with wrong client credentials or a dead
    token, and authorize-page loads (the user's, not the partner's), spend nothing. Failures get
    no budget of their own: each is refused for what it is (401, 400), never 429, so nobody who
    knows a client id can make its partner's calls fail [?] §9."""

    name: ClassVar[str] = "rate_limits"

    enabled: bool = False
    """Whether requests are counted and refused with 429 past the limits. Off for in-process
    tenants, so a test's bursts are not refused; `mockwise serve` turns it on, as Wise has it [C] §9."""

    per_second: int = field(default=100, metadata=_check(_between(1, _MAX_RATE)))
    """Requests a caller may make in any 1-second span: 100 by default [C] §9."""

    per_minute: int = field(default=1000, metadata=_check(_between(1, _MAX_RATE)))
    """Requests a caller may make in any 60-second span: 1000 by default [C] §9."""

    limited_by: str = field(default=LIMITED_BY, metadata=_check(_HEADER_VALUE))
    """The `X-Rate-Limited-By` header of a 429: "wise-public-api" in Wise's OAS example [C] §9."""

    scope: Literal["client", "tenant"] = "client"
    """What the limits count: per API client (personal tokens: per user), as the docs' "per client"
    reading suggests [?] §9, or all of the tenant's requests together."""

    retry_after: bool = True
    """Send `Retry-After` on 429. Wise sends it "sometimes" [C] §9; False leaves it out, so a
    client's own backoff is exercised."""


@dataclass(frozen=True, slots=True)
class Mtls(Section):
    """Client certificates on the mTLS host (reference §6)."""

    name: ClassVar[str] = "mtls"

    refusal_status: Literal[401, 403] = 401
    """Status of an HTTP-level mTLS refusal: an mTLS-enforced client on the TLS-only host, or a
    certificate that is expired or not yet valid (tenant clock), revoked, or not the client's. Wise
    is silent [?] §6, §13 q5: 401 answers `unauthorized` (Spring's failed authentication), 403
    `access_denied` (Spring's AccessDeniedException); both with a clear `error_description`."""

    token_binding: bool = False
    """Bind access tokens issued over mTLS to the certificate presented (RFC 8705 §3): a call with
    such a token must present that certificate, or get 401 `invalid_token`. Wise does not say it
    binds tokens [?] §6."""


@dataclass(frozen=True, slots=True)
class Limits(Section):
    """Sizes the sandbox accepts and keeps. Wise publishes none of them [?]: these bound memory and
    refuse floods early, far above what any real Wise request needs."""

    name: ClassVar[str] = "limits"

    max_body: int = field(default=64 * 1024, metadata=_check(_between(1024, 8 * 1024 * 1024)))
    """Bytes of request body accepted on the data plane before a 413: OAuth forms and the JSON
    bodies here are tiny. A declared length past it is refused before the body is read."""

    max_header_bytes: int = field(default=16 * 1024, metadata=_check(_between(1024, 64 * 1024)))
    """Bytes of header names and values accepted before a 431. Tomcat's default is 8 KiB; JWE
    tokens and SCA signatures fit many times over."""

    mailbox_size: int = field(default=500, metadata=_check(_between(1, 100_000)))
    """E-mails the sandbox mailbox keeps (the authorize page's e-mail flow, §4); older ones go."""


def _statuses(value: Any) -> str | None:
    if STATUS_LIST.fullmatch(value) and len(value) <= 300:
        return None
    return "must be HTTP error statuses (400-599) separated by commas, or empty"


STATUS_LIST = re.compile(r" *(?:[45][0-9]{2} *(?:, *[45][0-9]{2} *)*)?", re.ASCII)


@dataclass(frozen=True, slots=True)
class Webhooks(Section):
    """Webhooks the sandbox sends to the partner (reference §8): the URL rules, acknowledgement and
    retries, and the choices Wise's sources leave open."""

    name: ClassVar[str] = "webhooks"

    https_only: bool = True
    """A subscription's URL must be HTTPS [C] §8.6. False also allows http:// (a receiver without TLS)."""

    port_443_only: bool = True
    """A subscription's URL must use port 443 [C] §8.6 (a receiver on this machine is exempt while
    `webhooks.localhost` is on)."""

    no_ip_address: bool = True
    """A subscription's URL must name a domain, not an IP address [C] §8.6 (loopback addresses are
    exempt while `webhooks.localhost` is on)."""

    no_query: bool = True
    """A subscription's URL must carry no query string [C] §8.6."""

    localhost: bool = True
    """A receiver on this machine (`localhost`, `*.localhost`, `127.0.0.1`, `::1`) may use any port
    and an address, so a partner can test on a laptop. Wise could never reach one [C] §8.6."""

    private_networks: bool = False
    """Deliver to hosts that resolve to private, link-local, shared or reserved addresses (a
    container network, a cloud metadata address). Off: such a delivery fails without a connection,
    as Wise could not reach it either [C] §8.6; a subscription's URL is the partner's input."""

    verify_tls: bool = True
    """The receiver's certificate must chain to a trusted CA (the system's, or the sandbox CA) and
    name its host: "self-signed or expired certificates are not accepted" [C] §8.6."""

    timeout_ms: int = field(default=5000, metadata=_check(_between(50, 60_000)))
    """Milliseconds a receiver has to answer before the attempt counts as failed: 5 seconds [C]
    §8.5. Shorter makes a slow receiver's failure quick to see in a test."""

    success: Literal["2xx", "200"] = "2xx"
    """Which answers acknowledge a notification: any 2xx (the event-handling page, the OAS) or only
    200 (the overview page). The sources differ [C] §8.5, §13 q12."""

    max_attempts: int = field(default=25, metadata=_check(_between(1, 100)))
    """Attempts at most, the first included: "we will try at most 25 times" [C] §8.5 (the retry
    ladder's "eleventh retry, then 14 more once a day" reads as 26, §13 q13)."""

    short_retry_statuses: str = field(
        default="400",
        metadata=_check(_Rule(_statuses, {"maxLength": 300, "pattern": "^" + STATUS_LIST.pattern + "$"})),
    )
    """Statuses that "almost always fail on retry", tried at most 3 times: Wise's table starts with
    400; the rest of it is unknown [C, partly] §8.5, §13 q14. Comma-separated; empty for none."""

    retry_after: bool = True
    """Honour a receiver's `Retry-After` (seconds, or an HTTP date) for the next attempt [C] §8.5."""

    delivery_id: Literal["notification", "attempt"] = "notification"
    """What `X-Delivery-Id` names: one notification, the same on every attempt (the guide, the
    test-notification API), or each attempt (the OAS). The sources differ [C] §8.4, §13 q11; a
    receiver that deduplicates by it alone breaks under "attempt"."""

    kept_deliveries: int = field(default=1000, metadata=_check(_between(10, 100_000)))
    """Notifications the tenant remembers with their attempts (the delivery log); the oldest finished
    ones go first. Wise keeps an event history in Developer Hub [C] §8.1; its length is [?]."""


SECTIONS: tuple[Any, ...] = (OAuth, Authorize, Sca, Jose, RateLimits, Mtls, Limits, Webhooks)


@dataclass(frozen=True, slots=True)
class Settings:
    """A tenant's answers to questions Wise's documentation leaves open (reference §13)."""

    oauth: OAuth = field(default_factory=OAuth)
    authorize: Authorize = field(default_factory=Authorize)
    sca: Sca = field(default_factory=Sca)
    jose: Jose = field(default_factory=Jose)
    rate_limits: RateLimits = field(default_factory=RateLimits)
    mtls: Mtls = field(default_factory=Mtls)
    limits: Limits = field(default_factory=Limits)
    webhooks: Webhooks = field(default_factory=Webhooks)

    def apply(self, changes: Mapping[str, Any]) -> Settings:
        """These settings with `changes` ({"section.field": value}) applied. A ValueError names an
        unknown key (and the key it may have meant) or a value the sandbox cannot act on; nothing
        changes then."""
        sections: dict[str, dict[str, Any]] = {}
        unknown = []
        for key, value in changes.items():
            section, _, name = key.partition(".")
            if key not in KEYS:
                unknown.append(key)
                continue
            if isinstance(value, float) and value.is_integer() and _hints(_CLASSES[section])[name] is int:
                value = int(value)  # JSON has one kind of number: 3.0 is 3
            sections.setdefault(section, {})[name] = value
        if unknown:
            raise ValueError(
                f"unknown setting(s): {', '.join(map(_near, sorted(map(str, unknown))))}; {LISTED}"
            )
        replaced = {s: dataclasses.replace(getattr(self, s), **c) for s, c in sections.items()}
        return dataclasses.replace(self, **replaced)

    def get(self, key: str) -> Any:
        """The value of the setting `key` ("section.field"); a KeyError for an unknown key."""
        if key not in KEYS:
            raise KeyError(key)
        section, _, name = key.partition(".")
        return getattr(getattr(self, section), name)

    __getitem__ = get

    def items(self) -> Iterator[tuple[str, Any]]:
        """Every setting as (dotted key, value), section by section."""
        for section in SECTIONS:
            values = getattr(self, section.name)
            for item in dataclasses.fields(section):
                yield f"{section.name}.{item.name}", getattr(values, item.name)

    def as_dict(self) -> dict[str, Any]:
        """{"section.field": value}: what the control plane shows and a seed's `settings` holds."""
        return dict(self.items())

    def changed(self) -> dict[str, Any]:
        """Only the settings that differ from the defaults."""
        default = Settings()
        return {k: v for k, v in self.items() if default.get(k) != v}

    @staticmethod
    def from_data(data: Any, where: str = "settings") -> Settings:
        """Settings kept as data (`as_dict()`), every value checked as `apply` checks it."""
        if not isinstance(data, dict):
            raise RecordError(f"{where}: expected an object of settings, got {type(data).__name__}")
        try:
            return _settings_of(tuple(data.items()))
        except TypeError:  # a value that is not a scalar: no setting takes one
            raise RecordError(f"{where}: a setting's value is not a boolean, number or string") from None
        except ValueError as exc:
            raise RecordError(f"{where}: {exc}") from None

    @staticmethod
    def docs() -> dict[str, str]:
        """Each setting's documentation, by dotted key, for the control plane and the docs."""
        return dict(_docs())


LISTED = "`mockwise settings` lists every one (over HTTP: GET /_mockwise/tenants/{id}/settings)"


def _near(key: str) -> str:
    """`key`, and the setting it may have meant."""
    near = difflib.get_close_matches(key, KEYS, n=1, cutoff=0.6)
    if not near and "." not in key:  # a bare name: the key of that name in any section
        near = [k for k in sorted(KEYS) if k.endswith(f".{key}")][:1]
    if near:
        return f"{key} (did you mean {near[0]}?)"
    section = key.partition(".")[0]
    if section in _CLASSES:
        return f"{key} ({section} has {', '.join(sorted(k for k in KEYS if k.startswith(section + '.')))})"
    return key


@functools.lru_cache(maxsize=256)
def _settings_of(items: tuple[tuple[str, Any], ...]) -> Settings:
    """`Settings.from_data`, once per distinct document: settings are immutable, and every reset of
    a tenant reads the same ones back."""
    return Settings().apply(dict(items))


def _field_docs(section: type) -> dict[str, str]:
    import ast
    import inspect
    import textwrap

    tree = ast.parse(textwrap.dedent(inspect.getsource(section)))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
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
def _docs() -> tuple[tuple[str, str], ...]:
    return tuple(
        (f"{section.name}.{name}", doc) for section in SECTIONS for name, doc in _field_docs(section).items()
    )


_CLASSES = {section.name: section.__name__ for section in SECTIONS}

KEYS = frozenset(
    f"{section.name}.{item.name}" for section in SECTIONS for item in dataclasses.fields(section)
)


def json_schema(names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The JSON Schema of a settings change: {name: value} for `names` (shown name → dotted key;
    default: every dotted key), each value typed and bounded as `Section.__post_init__` checks it."""
    docs = Settings.docs()
    properties: dict[str, Any] = {}
    for shown, key in (names or {k: k for k in KEYS}).items():
        section_name, _, name = key.partition(".")
        section = next(s for s in SECTIONS if s.name == section_name)
        item = next(f for f in dataclasses.fields(section) if f.name == name)
        kind = _hints(section.__name__)[name]
        if get_origin(kind) is Literal:
            schema: dict[str, Any] = {"enum": list(get_args(kind))}
        else:
            schema = {"type": {bool: "boolean", int: "integer", str: "string"}[kind]}
            if kind is int:
                schema["minimum"] = 0
        schema |= item.metadata.get("schema", {})
        properties[shown] = schema | {"description": docs.get(key, "")}
    return {"type": "object", "additionalProperties": False, "properties": dict(sorted(properties.items()))}


def markdown() -> str:
    """Every setting as Markdown, section by section: `docs/settings.md` (regenerate with
    `python -m mockwise._domain.settings > docs/settings.md`; a test checks it is current)."""
    docs = Settings.docs()
    lines = [
        "# Settings",
        "",
        "Each tenant's answers to the questions Wise's documentation leaves open, generated from",
        "`mockwise/_domain/settings.py`. Set them by dotted key: `tenant.configure({...})` in Python,",
        "`PATCH /_mockwise/tenants/{id}/settings` over HTTP, or a seed document's `settings` object.",
        "Tags: [C] confirmed, [O] observed, [I] inferred, [?] unknown (see `docs/wise-reference.md`).",
    ]
    for section in SECTIONS:
        lines += ["", f"## `{section.name}`", "", " ".join((section.__doc__ or "").split()), ""]
        lines += ["| Key | Default | What it answers |", "|---|---|---|"]
        default = section()
        for item in dataclasses.fields(section):
            key = f"{section.name}.{item.name}"
            lines.append(f"| `{key}` | `{getattr(default, item.name)!r}` | {docs.get(key, '')} |")
    return "\n".join(lines)


def text() -> str:
    """Every setting with its default and what it answers, for `mockwise settings`."""
    docs = Settings.docs()
    lines = []
    for key, value in Settings().items():
        lines += [
            f"{key} = {json.dumps(value)}",
            *textwrap.wrap(docs.get(key, ""), 96, initial_indent="    ", subsequent_indent="    "),
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown())
