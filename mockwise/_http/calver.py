"""Wise's CalVer names for the operations mockwise serves (reference §1; docs/calver-2026q3.md).

Wise selects an API version in the path (`/2026Q3/auth/jose/response/public-keys`), and its
2026Q3 OpenAPI names the resources without `/v1`, `/v2`, `/v3`: `/2026Q3/me` is the operation
classic clients call as `/v1/me`, `/2026Q3/profiles` the one they call as `/v2/profiles`. Each
operation keeps one handler; this table says which classic route answers a 2026Q3 name, and the
edge routes the name there (`Edge(names=...)`):

    GET /2026Q3/me          → the route of GET /v1/me           (scope["wise_version"] = "2026Q3")
    GET /2026Q3/v1/me       → the same route, as before
    GET /me                 → 404: a 2026Q3 name is an address only with its version

A route whose 2026Q3 shape differs picks its renderer by `scope["wise_version"]`; none does yet
(the inventory says why). Every data-plane route is either twinned here or listed in
`CLASSIC_ONLY` with the reason, and `CalVerNames.check` fails the app at build time otherwise, so
a new route cannot silently miss its 2026Q3 name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from starlette.routing import BaseRoute, Route, compile_path

#: 2026Q3 name → the classic route serving it. Paths as Starlette writes them (`{id:int}`).
TWINS_2026Q3: Mapping[str, str] = {
    # identity and profiles (§11); 2026Q3's profile is v2's shape: upper-case `type`, flat fields
    "/me": "/v1/me",
    "/users/{user_id:int}": "/v1/users/{user_id:int}",
    "/profiles": "/v2/profiles",
    "/profiles/{profile_id:int}": "/v2/profiles/{profile_id:int}",
    # user creation over API and claiming (§4)
    "/user/signup/registration_code": "/v1/user/signup/registration_code",
    "/users/exists": "/v1/users/exists",
    "/user/claim-account": "/v1/user/claim-account",
    # SCA-protected resources (§5.5)
    "/profiles/{profile_id:int}/balance-statements/{balance_id:int}/statement.json": (
        "/v1/profiles/{profile_id:int}/balance-statements/{balance_id:int}/statement.json"
    ),
    "/profiles/{profile_id:int}/transfers/{transfer_id:int}/payments": (
        "/v3/profiles/{profile_id:int}/transfers/{transfer_id:int}/payments"
    ),
    # JOSE (§7.5)
    "/auth/jose/request/public-keys": "/v1/auth/jose/request/public-keys",
    "/auth/jose/response/public-keys": "/v1/auth/jose/response/public-keys",
    "/auth/jose/playground/jws": "/v1/auth/jose/playground/jws",
    "/auth/jose/playground/jwe": "/v1/auth/jose/playground/jwe",
    "/auth/jose/playground/jwe-direct-encryption": "/v1/auth/jose/playground/jwe-direct-encryption",
    "/auth/jose/playground/jwsjwe": "/v1/auth/jose/playground/jwsjwe",
    # webhook subscriptions (§8.1)
    **{
        f"/{scope}/subscriptions{rest}": f"/v3/{scope}/subscriptions{rest}"
        for scope in ("applications/{client_key}", "profiles/{profile_id:int}")
        for rest in ("", "/{subscription_id}")
    },
    "/applications/{client_key}/subscriptions/{subscription_id}/test-notifications": (
        "/v3/applications/{client_key}/subscriptions/{subscription_id}/test-notifications"
    ),
    # the one-time-token framework (§5.3)
    "/one-time-token/status": "/v1/one-time-token/status",
    **{
        f"/one-time-token/{channel}/{step}": f"/v1/one-time-token/{channel}/{step}"
        for channel in ("sms", "whatsapp", "voice")
        for step in ("trigger", "verify")
    },
}

#: Data-plane routes with no 2026Q3 twin, and why (they still answer, with or without a prefix).
CLASSIC_ONLY: Mapping[str, str] = {
    "/oauth/token": "the same name in 2026Q3",
    "/oauth/authorize": "a page on wise-sandbox.com, outside the versioned API",
    "/v1/profiles": "the legacy shape (lower-case type, details); 2026Q3 /profiles is v2's",
    "/v1/profiles/{profile_id:int}": "the legacy shape; 2026Q3 /profiles/{id} is v2's",
    "/v1/auth/jwt-public-key": "the legacy name of /v1/auth/jose/response/public-keys",
    "/v1/identity/one-time-token/status": "deprecated alias of /v1/one-time-token/status",
    "/v1/one-time-token/pin/verify": (
        "2026Q3 verifies PINs at /profiles/{profileId}/pin/verify (v2: unwrapped answer), not served yet"
    ),
    "/v1/authenticated/playground": "Wise's mTLS test endpoint is not in the 2026Q3 OpenAPI",
}

VERSIONS: Mapping[str, Mapping[str, str]] = {"2026Q3": TWINS_2026Q3}


@dataclass(frozen=True, slots=True)
class _Twin:
    pattern: re.Pattern[str]
    classic: str  # a format string: `/v2/profiles/{profile_id}`


class CalVerNames:
    """The names of each version (`VERSIONS`), resolved to the classic path that serves them.

    A version mockwise has no table for uses the newest table before it (Wise keeps a version's
    names until it is sunset), and one before every table has no CalVer names at all."""

    def __init__(self, versions: Mapping[str, Mapping[str, str]] = VERSIONS) -> None:
        self._tables = sorted(
            (version, tuple(_compile(name, classic) for name, classic in table.items()))
            for version, table in versions.items()
        )

    def classic(self, version: str, path: str) -> str | None:
        """The classic path serving `path` (a name without its version prefix) in `version`."""
        table = next((t for v, t in reversed(self._tables) if v <= version), ())
        for twin in table:
            found = twin.pattern.match(path)
            if found is not None:
                return twin.classic.format(**found.groupdict())
        return None

    @staticmethod
    def check(routes: Iterable[BaseRoute], versions: Mapping[str, Mapping[str, str]] = VERSIONS) -> None:
        """Every twin names a served route, and every served route is twinned or classic-only."""
        served = {r.path for r in routes if isinstance(r, Route)}
        for version, table in versions.items():
            missing = sorted(set(table.values()) - served)
            if missing:
                raise ValueError(f"{version} names routes mockwise does not serve: {', '.join(missing)}")
            undecided = sorted(served - set(table.values()) - set(CLASSIC_ONLY))
            if undecided:
                raise ValueError(
                    f"no {version} name for {', '.join(undecided)}: add it to "
                    "mockwise._http.calver (a twin, or CLASSIC_ONLY with the reason)"
                )


def _compile(name: str, classic: str) -> _Twin:
    pattern, _, _ = compile_path(name)
    _, classic_format, _ = compile_path(classic)
    return _Twin(pattern, classic_format)
