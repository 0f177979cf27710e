"""The deprecated flat names of settings: `GET|PATCH /_mockwise/tenants/{tenant}/fidelity` and the
`fidelity` object of `POST /_mockwise/tenants`.

Before settings were grouped in sections they had flat names (`<name>` for oauth and authorize,
`<section>_<name>` for sca, jose and mtls). These routes keep them working for one release, as a
view of the same `Settings`, and say so with a `Deprecation` header; they go in 0.3.0. Everything
else speaks dotted keys (`/settings`). This module is the one place the flat names live.
"""

from __future__ import annotations

import dataclasses

from starlette.requests import Request
from starlette.responses import Response

from mockwise._domain.settings import Authorize, Jose, Mtls, OAuth, Sca
from mockwise._http.control.common import (
    JSON,
    ControlError,
    body_of,
    deprecated,
    described_settings,
    endpoint,
    tenant_of,
)
from mockwise._http.responses import WiseJSON

#: Settings added after the flat names were retired: they never had one.
DOTTED_ONLY = frozenset({
    "oauth.access_token_lifetime", "oauth.token_type", "oauth.extra_token_fields",
    "oauth.refresh_response_refresh_token",
})  # fmt: skip
#: Flat name → dotted key, for every setting that had a flat name.
LEGACY: dict[str, str] = {
    **{
        item.name: f"{s.name}.{item.name}"
        for s in (OAuth, Authorize)
        for item in dataclasses.fields(s)
        if f"{s.name}.{item.name}" not in DOTTED_ONLY
    },
    **{
        f"{s.name}_{item.name}": f"{s.name}.{item.name}"
        for s in (Sca, Jose, Mtls)
        for item in dataclasses.fields(s)
    },
    "rate_limit_scope": "rate_limits.scope",
    "rate_limit_retry_after": "rate_limits.retry_after",
}


def dotted(changes: JSON) -> JSON:
    """Changes by flat name, by dotted key instead (a 400 for a name that never was one)."""
    unknown = set(changes) - set(LEGACY)
    if unknown:
        raise ControlError(
            400,
            "invalid_request",
            f"unknown fidelity setting(s): {', '.join(sorted(unknown))} (the flat names are "
            "deprecated: use dotted keys with /settings)",
        )
    return {LEGACY[name]: value for name, value in changes.items()}


@endpoint
async def get_fidelity(request: Request) -> Response:
    """
    summary: The tenant's settings by their flat legacy names (deprecated; use …/settings)
    description: >
      A view of `…/settings` under the names settings had before they were grouped. Deprecated:
      removed in 0.3.0.
    deprecated: true
    tags: [tenants]
    responses:
      200: {description: "Each setting's value and documentation."}
    """
    return deprecated(WiseJSON(described_settings(tenant_of(request).settings, LEGACY)), "settings")


@endpoint
async def patch_fidelity(request: Request) -> Response:
    """
    summary: Change settings by their flat legacy names (deprecated; use PATCH …/settings)
    description: A view of `PATCH …/settings`. Deprecated, removed in 0.3.0.
    deprecated: true
    tags: [tenants]
    requestBody:
      content:
        application/json:
          schema: {$ref: "#/components/schemas/LegacySettings"}
          example: {refresh_token_rotation: true}
    responses:
      200: {description: "The settings now in force, by legacy name."}
      400: {description: "Unknown setting or wrong type."}
    """
    tenant = tenant_of(request)
    settings = tenant.configure(dotted(await body_of(request)))
    return deprecated(WiseJSON({name: settings.get(key) for name, key in LEGACY.items()}), "settings")
