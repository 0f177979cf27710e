"""The obligations catalog: what a Wise client must do, each judged from the sandbox's journal and
the outcomes the client reports.

Every obligation has an id, a one-line statement, its source (a seed file or a section of the
reference), a severity, the strictness profiles it belongs to, and how it is checked. The checks
themselves live in `mockwise.contracts.judge`, one method per obligation.
`python -m mockwise.contracts.obligations` prints the catalog as Markdown.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from typing import Literal

Severity = Literal["critical", "major", "minor"]
PROFILES = ("wise", "strict")  # "wise": what Wise documents; "strict": adds good practice beyond it


@dataclass(frozen=True)
class Obligation:
    id: str
    statement: str
    source: str
    severity: Severity
    check: str
    situation: str = ""  # what the run counts: the moments that put this obligation to the test
    profiles: tuple[str, ...] = PROFILES
    # what the obligation cannot be judged without: an optional operation of the adapter
    # (`fund_transfer`, `create_user`, `start_link`), a client clock the suite can move (`clock`),
    # an mTLS host (`mtls`) or the arena's man in the middle (`impostor`)
    needs: tuple[str, ...] = ()

    def as_json(self) -> dict[str, object]:
        return asdict(self)


CATALOG: tuple[Obligation, ...] = (
    Obligation(
        "AUTH-BASIC",
        "Every token request authenticates the client with HTTP Basic and sends its parameters as a form.",
        "Wise embedded auth page; reference §2.1",
        "critical",
        "each /oauth/token request carries Basic credentials and a form body with grant_type",
        situation="token requests",
    ),
    Obligation(
        "GRANT-PARAMS",
        "Each grant sends the parameters Wise requires (client_id, email, registration_code, code, "
        "redirect_uri, refresh_token).",
        "reference §2.2",
        "major",
        "the form's parameter names include the grant's required ones",
        situation="token requests",
    ),
    Obligation(
        "SECRET-NOT-IN-URL",
        "The client secret, codes and tokens never travel in a URL.",
        "Wise auth-and-security page (the client secret is highly sensitive); RFC 6749 §2.3.1",
        "critical",
        "no request has client_secret, code, refresh_token, registration_code or password in its query",
        situation="requests",
    ),
    Obligation(
        "CC-REUSE",
        "The client-credentials token is reused until it is close to expiry, not fetched per call.",
        "Wise embedded auth page (a token per worker, renewed before it expires)",
        "major",
        "no new client-credentials token while this client holds one per worker with more than an hour left",
        situation="partner operations holding a live token",
    ),
    Obligation(
        "CC-NO-EXPIRED",
        "A client-credentials token is renewed before it expires, never sent after its expiry.",
        "Wise embedded auth page (track the lifetime and retrieve a new token before the token expires)",
        "major",
        "no API call presents a client-credentials token past the expiry it was told (expires_in or "
        "expires_at, on its clock)",
        situation="partner operations at or past the told expiry",
        needs=("clock",),
    ),
    Obligation(
        "USER-REUSE",
        "A customer's access token is reused until it is close to expiry: not refreshed, nor fetched again "
        "with the registration code, while it has hours left.",
        "Wise user-tokens page (request a new access token when the previous one is close to expiring); "
        "reference §2.5 (each refresh or new grant kills the token before it)",
        "major",
        "no refresh_token or registration_code grant for a customer whose newest access token works, was "
        "not refused, and was received less than two hours before on the client's clock",
        situation="customer operations holding a fresh token",
    ),
    Obligation(
        "USER-NO-EXPIRED",
        "A user access token is refreshed before it expires, never sent after its known expiry.",
        "Wise user-tokens page (request a new access token whenever the previous one is close to expiring)",
        "major",
        "no API call presents a user token past the expiry the client was told (expires_in or expires_at, "
        "on its clock)",
        situation="customer operations at or past the told expiry",
        needs=("clock",),
    ),
    Obligation(
        "USER-NO-STALE",
        "A user token is never sent after a refresh replaced it, and one customer's tokens are refreshed by "
        "one worker at a time.",
        "Wise user-tokens page (a refresh invalidates the previous access token; use central token storage "
        "to avoid races)",
        "critical",
        "no API call presents a user access token a refresh superseded; no refresh presents a refresh token "
        "a refresh rotated; among workers acting at once, one refresh per customer unless its newest token "
        "was refused",
        situation="replaced tokens",
    ),
    Obligation(
        "USER-OWN-TOKEN",
        "Each operation presents the tokens of whom it acts for: a customer's call that customer's, a "
        "partner call the partner's.",
        "Wise user-tokens page (a user's tokens act for that user); reference §3 (a token is bound to the "
        "approved profile)",
        "critical",
        "no operation for a customer presents another customer's access or refresh token or registration "
        "code, or the partner's token on a customer's endpoint; no partner call presents a customer's token",
        situation="operations while holding several parties' tokens",
    ),
    Obligation(
        "INVALID-GRANT-STOP",
        "After invalid_grant the client never sends that refresh token (or dead registration code) again.",
        "Wise user-tokens page; reference §2.5",
        "critical",
        "no refresh_token grant reuses a refresh token answered invalid_grant; no registration_code grant "
        "for a user whose code was answered invalid_grant",
        situation="invalid_grant answers",
    ),
    Obligation(
        "REGCODE-FALLBACK",
        "For a user created over API, a dead refresh token is replaced through the stored registration code.",
        "Wise user-tokens page (store the registration code; it works until the user reclaims the account)",
        "major",
        "a created, unreclaimed user is never reported as needing a re-link",
        situation="operations for created customers with a working registration code",
        needs=("create_user",),
    ),
    Obligation(
        "RELINK-REPORTED",
        "When a user's tokens are gone for good, the client reports 're-link needed'.",
        "Wise user-tokens page (send the user through the linking flow again)",
        "major",
        "an operation for a user with no usable refresh token or registration code answers relink_needed",
        situation="operations for customers whose tokens are gone",
    ),
    Obligation(
        "RETRY-AFTER",
        "After a 429, the client waits at least Retry-After before trying again.",
        "reference §9",
        "major",
        "within one operation, no request follows a 429 sooner than its Retry-After",
        situation="429 answers",
    ),
    Obligation(
        "RETRY-BOUNDED",
        "Transient failures (5xx, resets, gateway pages, bad bodies) are retried a bounded number of times, "
        "with a pause.",
        "reference §9 (exponential backoff)",
        "major",
        "in one operation, at most 4 attempts of a request after a transient failure, each 20 ms or more "
        "after the failure",
        situation="transient failures",
    ),
    Obligation(
        "NO-RETRY-INVALID-CLIENT",
        "Refused client credentials are not retried.",
        "reference §2.6",
        "major",
        "within one operation, no token request follows one answered 401 for the client's credentials",
        situation="refused client credentials",
    ),
    Obligation(
        "REDIRECT-EXACT",
        "The authorize URL and the code exchange use exactly the registered redirect_uri.",
        "reference §3 (must equal the registered value, query string included)",
        "critical",
        "the authorize URL names our client_id and the registered redirect_uri; no exchange is refused "
        "for a redirect_uri mismatch",
        situation="authorize URLs",
        needs=("start_link",),
    ),
    Obligation(
        "STATE-CHECKED",
        "The client sends an unguessable state and refuses a redirect back whose state it did not issue.",
        "RFC 6749 §10.12; reference §3",
        "critical",
        "state has 16+ characters and is never reused; a redirect whose state is not exactly the one issued "
        "(foreign, a near miss, empty, missing, repeated) ends in state_mismatch without exchanging the code",
        situation="foreign redirects",
        needs=("start_link",),
    ),
    Obligation(
        "CODE-ONCE",
        "An authorization code is exchanged at most once.",
        "reference §2.4 (codes are single use)",
        "major",
        "no code appears in two authorization_code grants",
        situation="code exchanges",
        needs=("start_link",),
    ),
    Obligation(
        "DOB-CHECK",
        "After linking, the client checks the profile's date of birth and refuses a mismatch.",
        "Wise linking-accounts page (actions after linking an account)",
        "critical",
        "a link to a personal profile whose date of birth differs from the partner's record (by a day, a "
        "month, a year, or entirely) ends in dob_mismatch",
        situation="links to someone else",
        needs=("start_link",),
    ),
    Obligation(
        "LINK-KEPT",
        "A customer who declines on the authorize page, or leaves it and never comes back, keeps the link "
        "they had.",
        "reference §3 (a denial comes back as error=access_denied; RFC 6749 §4.1.2.1), §2.5 (only a new "
        "grant replaces a link's refresh token)",
        "critical",
        "a declined callback is answered with an error and exchanges nothing; after a declined or "
        "abandoned attempt, an operation for the customer whose tokens still work succeeds",
        situation="declined or abandoned re-links",
        needs=("start_link",),
    ),
    Obligation(
        "RELINK-REPLACES",
        "When a customer links again, the client goes on with the new link's tokens.",
        "reference §2.5 (a new authorization_code grant immediately invalidates the old refresh token)",
        "major",
        "no refresh presents the refresh token of a link the same customer replaced by linking again",
        situation="re-links that replaced a refresh token",
        needs=("start_link",),
    ),
    Obligation(
        "LINKS-IN-FLIGHT",
        "Each link attempt the client started is finished by its own redirect: starting a second does not "
        "void the first.",
        "reference §3 (state returned unchanged, per authorization request); RFC 6749 §10.12 (good "
        "practice: Wise says nothing of two attempts at once)",
        "minor",
        "with two attempts under way for one customer, the redirect of either (with its own state) links "
        "the customer",
        situation="redirects of one of two attempts under way",
        profiles=("strict",),
        needs=("start_link",),
    ),
    Obligation(
        "SCA-CLEARED",
        "After an SCA challenge, the one-time token goes back with the request only once its challenges "
        "are cleared.",
        "reference §5.3 (the token is ready when no challenge is required and not passed)",
        "critical",
        "no request presents a one-time token whose challenges are still pending",
        situation="SCA challenges",
        needs=("start_link", "fund_transfer"),  # only a linked customer has a profile to fund from
    ),
    Obligation(
        "SCA-ONE-USE",
        "A one-time token approves one request: the next SCA-protected request waits for its own challenge.",
        "reference §5.2 (a one-time token is single use)",
        "major",
        "no request presents a one-time token already used",
        situation="transfers after an approved one",
        needs=("start_link", "fund_transfer"),
    ),
    Obligation(
        "MTLS-PRESENT",
        "Every request the partner makes presents its client certificate, on the mTLS host.",
        "Wise embedded auth page (mTLS is a strict requirement); reference §6",
        "critical",
        "no journal entry for the partner's client id arrives without a client certificate",
        situation="partner requests",
        needs=("mtls",),
    ),
    Obligation(
        "VERIFY-SERVER",
        "The client verifies the server's certificate against the sandbox CA: an impostor gets nothing.",
        "reference §6 (trust Wise's CA), §12 (HTTPS only)",
        "critical",
        "no request arrives over a connection whose server certificate another CA signed",
        situation="impostor meetings",
        needs=("impostor",),
    ),
    Obligation(
        "WORKS",
        "When the sandbox is healthy, the business operation succeeds.",
        "the purpose of the integration",
        "major",
        "an operation with no fault and live credentials answers ok",
        situation="operations that must work",
    ),
    Obligation(
        "REFRESH-EARLY",
        "User tokens are refreshed a minute or more before expiry, not at the last second.",
        "reference §2.5 (Wise suggests refreshing hours early)",
        "minor",
        "no API call presents a user token with less than 60 seconds left on the client's clock",
        situation="customer operations in a token's last minute",
        profiles=("strict",),
        needs=("clock",),
    ),
)

#: Each obligation's adversaries: the ways the stories try to make a client break it, each a kind
#: of the situation the judge counts, so a run shows which it met (a family, not one instance:
#: every grant, every near miss of a `state`, every failure on every endpoint...). A test holds the
#: default run to meeting every one.
TRANSIENT = ("5xx", "reset", "429")
ADVERSARIES: dict[str, tuple[str, ...]] = {
    "AUTH-BASIC": ("client_credentials", "registration_code", "authorization_code", "refresh_token"),
    "GRANT-PARAMS": ("client_credentials", "registration_code", "authorization_code", "refresh_token"),
    "SECRET-NOT-IN-URL": ("token endpoint", "API"),
    "CC-REUSE": ("a live token",),
    "CC-NO-EXPIRED": ("at the told expiry", "past the told expiry"),
    "USER-REUSE": ("a token under two hours old",),
    "USER-NO-EXPIRED": ("at the told expiry", "past the told expiry"),
    "USER-NO-STALE": ("refresh", "concurrent refresh"),
    "USER-OWN-TOKEN": ("customer call", "partner call"),
    "INVALID-GRANT-STOP": ("refresh_token_revoked", "refresh_token_superseded", "fault", "reclaimed"),
    "REGCODE-FALLBACK": ("dead refresh token",),
    "RELINK-REPORTED": ("user_call", "fund_transfer"),
    "RETRY-AFTER": tuple(f"{s} on the {w}" for s in ("429", "503") for w in ("token endpoint", "API")),
    "RETRY-BOUNDED": (
        *(f"{t} on the {w}" for t in TRANSIENT for w in ("token endpoint", "API")),
        "malformed_json on the token endpoint",
        "gateway_html on the API",
    ),
    "NO-RETRY-INVALID-CLIENT": ("client_credentials", "refresh_token", "authorization_code"),
    "REDIRECT-EXACT": ("authorize URL",),
    "STATE-CHECKED": tuple(
        ["foreign", "prefix", "suffix", "one-char", "case", "truncated", "empty", "missing", "repeated"]
    ),
    "CODE-ONCE": ("exchange", "an exchange a transient failure answered", "a failure after the exchange"),
    "DOB-CHECK": ("day", "month", "year", "other"),
    "LINK-KEPT": ("declined", "after a re-link declined", "after a re-link abandoned"),
    "RELINK-REPLACES": ("re-link",),
    "LINKS-IN-FLIGHT": ("attempt 1 of 2", "attempt 2 of 2"),
    "SCA-CLEARED": ("challenge",),
    "SCA-ONE-USE": ("a transfer after an approved one",),
    "MTLS-PRESENT": ("token endpoint", "API"),
    "VERIFY-SERVER": ("partner", "customer"),
    "WORKS": ("partner_call", "create_user", "finish_link", "user_call", "fund_transfer"),
    "REFRESH-EARLY": ("in the last minute", "past the told expiry"),
}

BY_ID = {o.id: o for o in CATALOG}

#: What each need is, in the catalog's words.
NEEDS = {
    "clock": "a client clock the suite can move",
    "fund_transfer": "the optional `fund_transfer` operation",
    "create_user": "the `create_user` operation",
    "start_link": "the `start_link` and `finish_link` operations",
    "mtls": "an mTLS host",
    "impostor": "the local sandbox's impostor",
}


def catalog(profile: str = "wise") -> tuple[Obligation, ...]:
    if profile not in PROFILES:
        raise ValueError(f"unknown strictness profile {profile!r}; one of {', '.join(PROFILES)}")
    return tuple(o for o in CATALOG if profile in o.profiles)


def markdown(profile: str | None = None) -> str:
    rows = [
        "| Id | Obligation | Source | Severity | Profiles | Checked by | Counted | Adversaries |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for o in CATALOG if profile is None else catalog(profile):
        needs = f" (needs {', '.join(NEEDS[n] for n in o.needs)})" if o.needs else ""
        rows.append(
            f"| `{o.id}` | {o.statement} | {o.source} | {o.severity} | {', '.join(o.profiles)} | "
            f"{o.check}{needs} | {o.situation} | {'; '.join(ADVERSARIES.get(o.id, ()))} |"
        )
    return "\n".join(rows)


if __name__ == "__main__":  # pragma: no cover
    if sys.argv[1:] == ["--json"]:
        print(json.dumps([o.as_json() for o in CATALOG], indent=2))
    else:
        print(markdown())
