"""Variation points: every way Wise (or the RFCs Wise builds on) may legally answer differently,
and how the stories draw from them.

A client that works only with the sandbox's defaults is not a Wise client: Wise's documentation
leaves questions open (tagged [?] or [I] in docs/wise-reference.md), RFC 6749 §4 to §6, RFC 6750 §3
and RFC 9110 allow a server several answers (MAY, SHOULD, OPTIONAL), and a sandbox operator may
set every value `docs/settings.md` lists. Each such freedom is a `Point` here, with its legal
values (the default first; the edges of a range as well as its typical value) and its source.

- A `setting` point is a key of the sandbox's `Settings`: a story gives it a value when its tenant
  is made.
- A `fault` point is a way a transient failure may look (the form of `Retry-After`, the 5xx
  status): drawn each time a story arms such a fault.
- A `world` point is a fact of the partner's registration or the customer's journey (a redirect
  URI with a query string, extra parameters on the way back).

Every key of `Settings` appears here, either as a point the stories draw or in `HELD` (with why a
story cannot reach it, or why it keeps one value), so a new setting cannot be left out by
accident. `python -m mockwise.contracts.coverage` prints `docs/variation.md`, with how often the
default budget took each value; a test fails when a value is never taken.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from mockwise._domain.settings import KEYS, Settings
from mockwise._http.control.fidelity import LEGACY  # the one place the flat names live

Kind = Literal["setting", "fault", "world"]


@dataclass(frozen=True)
class Point:
    id: str  # a dotted setting key, or `fault.<name>` / `world.<name>`
    kind: Kind
    values: tuple[Any, ...]  # every legal value the stories take; the default first
    source: str  # where the freedom comes from
    question: str  # what it answers, in one line
    # the chance a story (or a fault) leaves the default; the theme names stories that lean on it
    chance: float = 0.3
    themes: tuple[str, ...] = ()

    @property
    def default(self) -> Any:
        return self.values[0]

    def draw(self, rng: random.Random, theme: str = "") -> Any:
        """A value: the default, or (by chance, more often in the themes that lean on it) any
        other legal value, each as likely as the next."""
        chance = 0.75 if theme in self.themes else self.chance
        if len(self.values) == 1 or rng.random() >= chance:
            return self.default
        return rng.choice(self.values[1:])


def _setting(key: str, values: tuple[Any, ...], source: str, question: str, **kw: Any) -> Point:
    return Point(key, "setting", values, source, question, **kw)


#: The settings every story starts from, before its variation points are drawn.
BASE: dict[str, Any] = {
    # The sandbox is lenient where the judge is strict (client credentials in a form body are
    # accepted), so one bug shows up as one broken obligation rather than a cascade.
    "oauth.client_auth_in_body": True,
    # Fund transfers as a user are challenged, by SMS, so the SCA obligations are exercised.
    "sca.user_tokens": True,
    "sca.high_risk_challenges": "SMS",
    # Stories move clocks by days: expired tokens are remembered for a year, so every request
    # that carries one is journaled under this tenant and the judge sees it.
    "oauth.expired_token_memory": 365 * 86400,
    # The stories' 429s are faults, whose Retry-After they vary; a served sandbox's own limits stay
    # off for the stories' tenants too.
    "rate_limits.enabled": False,
}

HOURS = 3600
POINTS: tuple[Point, ...] = (
    # POST /oauth/token: what an answer says, and how it says it
    _setting(
        "oauth.access_token_lifetime",
        (12 * HOURS, 2, 30022, 30 * 86400),
        "[C] §2.3, §2.4 (43199, and 30021 once in Wise's docs); RFC 6749 §5.1 (the server's choice)",
        "how long an access token lives (expires_in 43199; 1 s; 30021; 30 days)",
        themes=("expiry", "concurrency"),
    ),
    _setting(
        "oauth.token_response_fields",
        ("current", "legacy", "minimal"),
        "[C] §2.3 (fields added in 2025); RFC 6749 §5.1 (expires_in RECOMMENDED, scope OPTIONAL)",
        "which fields a token answer carries: today's, the pre-2023 ones, or RFC 6749's minimum",
        themes=("expiry",),
    ),
    _setting(
        "oauth.token_type",
        ("bearer", "Bearer", "BEARER"),
        '[C] §2.3 ("bearer"); RFC 6749 §5.1 (case-insensitive)',
        "how token_type is spelled",
    ),
    _setting(
        "oauth.extra_token_fields",
        (False, True),
        "RFC 6749 §5.1 (a client MUST ignore parameters it does not know); [C] §2.3 (Wise adds fields)",
        "whether token answers carry fields Wise has not documented",
    ),
    _setting(
        "oauth.refresh_token_rotation",
        (False, True),
        "[?] §2.5; RFC 6749 §6 (the server MAY issue a new refresh token)",
        "whether a refresh returns a new refresh token and kills the old one",
        themes=("concurrency", "revocation"),
    ),
    _setting(
        "oauth.refresh_response_refresh_token",
        ("same", "omitted"),
        "RFC 6749 §6 (a new refresh token MAY be issued; without one the client keeps its own); [I] §2.5",
        "without rotation, whether a refresh answer repeats the refresh token or leaves it out",
        themes=("expiry", "concurrency"),
    ),
    _setting(
        "oauth.client_credentials_reuse",
        (False, True),
        "[I] §2.5 (Spring's token store hands back the live token)",
        "whether a second client_credentials grant returns the live token with what is left of it",
        themes=("expiry",),
    ),
    _setting(
        "oauth.client_credentials_token_format",
        ("uuid", "jwe"),
        "[C] §2.4 (encrypted JWTs by 7 Jan 2027)",
        "whether the partner's token is a UUID or a long five-part JWE",
        themes=("secrets",),
    ),
    _setting(
        "oauth.registration_code_failure_status",
        (401, 400),
        "[C] §2.6 (the API reference and the guides disagree)",
        "the status of invalid_grant on a dead registration code",
        themes=("revocation",),
    ),
    _setting(
        "oauth.echo_token_in_invalid_token",
        (False, True),
        "[O] §10 (the older sandbox echoed the token)",
        "whether a refused token's error_description is the token itself",
        themes=("secrets",),
    ),
    _setting(
        "oauth.token_params_from_query",
        (False, True),
        "[I] §2.1 (Spring reads the query string too)",
        "whether grant parameters in the query string are read",
    ),
    _setting(
        "oauth.link_per_profile",
        (True, False),
        "[?] §2.5, §3 (Wise is silent on profiles)",
        "whether linking one profile replaces the refresh token of the user's other profile's link",
        themes=("linking",),
    ),
    _setting(
        "oauth.bound_token_lists_only_its_profile",
        (True, False),
        "[?] §11",
        "whether a linked token lists the user's other profiles too",
        themes=("linking", "sca"),
    ),
    _setting(
        "oauth.client_credentials_on_user_endpoints",
        (403, 401),
        "[?] §11",
        "what the partner's token gets on an endpoint that needs a user",
    ),
    _setting(
        "oauth.refresh_survives_reclaim",
        (True, False),
        "[?] §4 (the registration code dies; Wise does not say the refresh tokens do)",
        "whether reclaiming an account also revokes its refresh tokens",
        themes=("revocation",),
    ),
    # the authorize page
    _setting(
        "authorize.deny_redirects",
        (True, False),
        '[C] §3 (the user "may also see a link back" with error and error_description)',
        "whether denying on the authorize page redirects back at once or shows a link back",
        themes=("linking",),
    ),
    _setting(
        "authorize.access_denied_description",
        ("User denied access", "The user denied the request"),
        "[I] §3; RFC 6749 §4.1.2.1 (error_description is OPTIONAL, free text)",
        "the error_description of a denial",
        themes=("linking",),
    ),
    # SCA
    _setting(
        "sca.challenge_body",
        ("spring", "empty"),
        "[C] §5.2 (Spring body), [O] (header only)",
        "whether the 403 SCA challenge has a body",
        themes=("sca",),
    ),
    _setting(
        "sca.user_tokens",
        (True, False),
        "[C] §5.3 (Wise enables SCA over API per partner)",
        "whether the customer's transfers are challenged at all (the suites' default: they are)",
        chance=0.1,
    ),
    _setting(
        "sca.one_time_token_lifetime",
        (3600, 300),
        "[C] §2.4, §5.3 (validity 3600); an operator may shorten it",
        "how long a one-time token stays usable",
        themes=("sca",),
    ),
    # mTLS
    _setting(
        "mtls.refusal_status",
        (401, 403),
        "[?] §6, §13 q5",
        "the status of an HTTP-level mTLS refusal",
    ),
    _setting(
        "mtls.token_binding",
        (False, True),
        "[?] §6; RFC 8705 §3 (certificate-bound tokens)",
        "whether tokens issued over mTLS are bound to the certificate presented",
    ),
    # transient failures
    Point(
        "fault.retry_after",
        "fault",
        ("seconds", "http-date", "absent", "zero"),
        '[C] §9 ("sometimes with Retry-After: <seconds>"); RFC 9110 §10.2.3 (delay-seconds or HTTP-date)',
        "how a 429 says when to come back: delay-seconds, an HTTP-date, not at all, or 0",
        chance=0.6,
    ),
    Point(
        "fault.server_error_status",
        "fault",
        (503, 500, 502, 504),
        "[C] §10 (Spring's 500); RFC 9110 §15.6 (any 5xx is a server error)",
        "which 5xx an outage answers",
        chance=0.6,
    ),
    Point(
        "fault.service_unavailable_retry_after",
        "fault",
        ("absent", "seconds", "http-date"),
        "RFC 9110 §10.2.3 (Retry-After with 503: how long the service is expected to be unavailable)",
        "whether a 503 says when to come back, and how",
        chance=0.6,
    ),
    # the partner's registration and the customer's journey
    Point(
        "world.redirect_uri_query",
        "world",
        (False, True),
        "[C] §3 (the redirect URI must match the registered one, query string included)",
        "whether the partner's registered redirect URI has a query string",
        chance=0.25,
        themes=("linking",),
    ),
    Point(
        "world.callback_extra_params",
        "world",
        (False, True),
        "RFC 6749 §4.1.2 (the client MUST ignore unrecognized response parameters)",
        "whether the redirect back carries parameters the client does not know",
        chance=0.25,
        themes=("linking",),
    ),
)

BY_ID = {p.id: p for p in POINTS}
SETTING_POINTS = tuple(p for p in POINTS if p.kind == "setting")

#: Settings the stories hold at one value, or cannot reach through the adapter's operations.
HELD: dict[str, str] = {
    "oauth.client_auth_in_body": (
        "held at true: AUTH-BASIC judges Basic itself, and one bug then breaks one obligation"
    ),
    "oauth.expired_token_memory": "held at a year, so the judge sees each request with an expired token",
    "authorize.login_session_lifetime": "the suites' customers sign in once, correctly",
    "authorize.login_max_failures": "the suites' customers sign in once, correctly",
    "authorize.login_lockout": "the suites' customers sign in once, correctly",
    "sca.personal_tokens": "no operation uses a personal token",
    "sca.signing_accounts": "signed one-time tokens are for personal tokens, which no operation uses",
    "sca.statement_exemption_days": "no operation reads a statement",
    "sca.low_risk_challenges": "no operation reads a statement (the low-risk action)",
    "sca.high_risk_challenges": "held at SMS: a PIN needs JOSE, which the adapter does not ask of a client",
    "sca.pin": "held: a PIN needs JOSE, which the adapter does not ask of a client",
    "sca.lockout_status": "a client that clears its challenges is never locked out",
    "jose.refusal_status": "no operation signs or encrypts (JOSE is for selected partners, §7)",
    "jose.response_signing_algorithm": "no operation signs or encrypts (JOSE is for selected partners, §7)",
    "jose.wrap_errors": "no operation signs or encrypts (JOSE is for selected partners, §7)",
    "rate_limits.enabled": "held off: the stories' 429s are faults (their Retry-After: fault.retry_after)",
    "rate_limits.per_second": "rate limits are held off (see rate_limits.enabled)",
    "rate_limits.per_minute": "rate limits are held off (see rate_limits.enabled)",
    "rate_limits.limited_by": "rate limits are held off (see rate_limits.enabled)",
    "rate_limits.scope": "rate limits are held off (see rate_limits.enabled)",
    "rate_limits.retry_after": "rate limits are held off; fault.retry_after varies the same header",
    "limits.max_body": "no Wise request comes near it",
    "limits.max_header_bytes": "no Wise request comes near it",
    "limits.mailbox_size": "no operation reads the sandbox mailbox",
    # The client suites send no webhooks: the receiver suite (contracts/receiver/judge.py) varies
    # what X-Delivery-Id names and the schema version in its own stories, and holds the rest.
    **{
        f"webhooks.{name}": "the client suites send no webhooks (the receiver suite's stories vary it)"
        if name == "delivery_id"
        else "the client suites send no webhooks"
        for name in (
            "https_only",
            "port_443_only",
            "no_ip_address",
            "no_query",
            "localhost",
            "private_networks",
            "verify_tls",
            "timeout_ms",
            "success",
            "max_attempts",
            "short_retry_statuses",
            "retry_after",
            "delivery_id",
            "kept_deliveries",
        )
    },
}


def draw_settings(rng: random.Random, theme: str) -> dict[str, Any]:
    """A story's settings: each setting point's value, by dotted key (the defaults left out)."""
    drawn = {p.id: p.draw(rng, theme) for p in SETTING_POINTS}
    return {key: value for key, value in drawn.items() if value != BY_ID[key].default}


def dotted(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Settings by dotted key; a scenario file written before keeps loading: its legacy flat names
    (`refresh_token_rotation`, `sca_challenge_body`) are read as the dotted ones."""
    return {LEGACY.get(key, key): value for key, value in settings.items()}


class Tally:
    """How often each point took each value in a run (settings once a story, faults once armed)."""

    def __init__(self) -> None:
        self.counts: dict[str, Counter[str]] = {p.id: Counter() for p in POINTS}

    def took(self, point: str, value: Any) -> None:
        self.counts[point][_shown(value)] += 1

    def story(self, settings: Mapping[str, Any], world: Mapping[str, Any]) -> None:
        for point in SETTING_POINTS:
            self.took(point.id, settings.get(point.id, point.default))
        for name, value in world.items():
            self.took(name, value)

    def update(self, other: Tally) -> None:
        for point, counts in other.counts.items():
            self.counts[point].update(counts)

    def never_taken(self) -> list[tuple[str, Any]]:
        return [(p.id, v) for p in POINTS for v in p.values if not self.counts[p.id][_shown(v)]]

    def as_json(self) -> dict[str, dict[str, int]]:
        return {point: dict(counts) for point, counts in self.counts.items()}


def _shown(value: Any) -> str:
    return json.dumps(value)


def markdown(tally: Tally | None = None) -> str:
    lines = [
        "# Variation",
        "",
        "Every way Wise, or an RFC Wise builds on, may legally answer a client differently, as the",
        "contract suites vary it. Generated from `contracts/variation.py`",
        "(`python -m mockwise.contracts.coverage > docs/variation.md`, which runs the default budget",
        "with the reference client to count); a test keeps this file in step and fails when a value is",
        "never taken in the default budget. Values: the default first. Taken: stories (settings and",
        "the world) or armed faults that took each value in the default budget (100 stories).",
        "How to write a client the suites can judge: [contracts.md](contracts.md).",
        "",
        "| Point | Kind | Question | Values (taken) | Source |",
        "|---|---|---|---|---|",
    ]
    for p in POINTS:
        counts = tally.counts[p.id] if tally is not None else Counter()
        values = ", ".join(f"`{_shown(v)}` ({counts[_shown(v)]})" for v in p.values)
        lines.append(f"| `{p.id}` | {p.kind} | {p.question} | {values} | {p.source} |")
    lines += [
        "",
        "## Held or out of reach",
        "",
        "Settings the stories keep at one value, or that no operation of the adapter reaches.",
        "",
        "| Setting | Why |",
        "|---|---|",
    ]
    lines += [f"| `{key}` | {why} |" for key, why in HELD.items()]
    return "\n".join(lines) + "\n"


def unclassified(keys: Iterable[str] = KEYS) -> set[str]:
    """Settings in neither the catalog nor `HELD`."""
    return set(keys) - set(BY_ID) - set(HELD)


def _legal(point: Point) -> list[str]:
    """Values of a setting point the sandbox refuses (none, when the catalog is right)."""
    wrong = []
    for value in point.values:
        try:
            Settings().apply({point.id: value})
        except ValueError:
            wrong.append(_shown(value))
    return wrong


def check() -> list[str]:
    """What is wrong with the catalog itself."""
    problems = [f"{key}: neither a point nor held" for key in sorted(unclassified())]
    problems += [f"{key}: held and a point" for key in sorted(set(HELD) & set(BY_ID))]
    base = Settings().apply(BASE)
    for point in SETTING_POINTS:
        if base.get(point.id) != point.default:
            problems.append(f"{point.id}: its first value is not the sandbox's default")
        problems += [f"{point.id}: {v} is refused by the sandbox" for v in _legal(point)]
    return problems
