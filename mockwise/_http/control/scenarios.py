"""Scenarios: the ways a token dies early on Wise, triggered on demand (Wise user-tokens page,
reference §2.5). The names, parameters and OpenAPI enum are the declarations' in
`mockwise._domain.scenarios`: the Python method names (`POST …/scenarios/revoke_access`)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from mockwise._domain.scenarios import SCENARIOS, Scenario
from mockwise._domain.tenant import Tenant
from mockwise._http.control.common import JSON, ControlError, body_of, deprecated, endpoint, field, tenant_of
from mockwise._http.responses import WiseJSON

#: The hyphenated names of before, deprecated (removed in 0.3.0): each answers as its new name, with
#: a `Deprecation` header.
DEPRECATED_NAMES = {
    "revoke-access": "revoke_access",
    "enhanced-security": "enable_enhanced_security",
    "change-email": "change_email",
    "rotate-secret": "rotate_secret",
    "revoke-secret": "revoke_secret",
}


def _run(tenant: Tenant, scenario: Scenario, data: JSON) -> Any:
    unknown = set(data) - {p.name for p in scenario.params}
    if unknown:
        raise ControlError(400, "invalid_request", f"unknown field(s): {', '.join(sorted(unknown))}")
    args = {}
    for param in scenario.params:
        value = field(data, param.name, param.kind, ... if param.required else None, required=param.required)
        if isinstance(value, bool):
            raise ControlError(400, "invalid_request", f"{param.name!r} is {param.doc or 'not a boolean'}")
        args[param.name] = value
    return getattr(tenant, scenario.name)(**args)


@endpoint
async def run_scenario(request: Request) -> Response:
    """
    summary: Make something happen to the tenant's tokens, as it happens on Wise
    description: >
      {descriptions}
      The hyphenated names of before (`revoke-access`, `enhanced-security`, `change-email`,
      `rotate-secret`, `revoke-secret`) still work, deprecated (removed in 0.3.0).
    tags: [scenarios]
    parameters:
      - name: scenario
        in: path
        required: true
        schema:
          type: string
          enum: [{names}]
    responses:
      200: {{description: "The ids of the tokens it ended (and the new secret, for rotate_secret)."}}
      400: {{description: "A missing or wrong parameter."}}
      404: {{description: "Unknown scenario, user or client."}}
    """
    tenant = tenant_of(request)
    asked = request.path_params["scenario"]
    scenario = SCENARIOS.get(DEPRECATED_NAMES.get(asked, asked))
    if scenario is None:
        raise ControlError(404, "not_found", f"no scenario {asked!r}; try one of {', '.join(SCENARIOS)}")
    outcome = _run(tenant, scenario, await body_of(request))
    answer = WiseJSON({"scenario": asked, scenario.answers: outcome})
    return answer if asked == scenario.name else deprecated(answer, scenario.name)


def _params(scenario: Scenario) -> str:
    return ", ".join(p.name if p.required else f"{p.name}?" for p in scenario.params)


# The operation's OpenAPI comes from the registry: the names, and what each does.
assert run_scenario.__doc__ is not None
run_scenario.__doc__ = run_scenario.__doc__.format(
    descriptions="\n      ".join(f"`{s.name}` {{{_params(s)}}}: {s.doc}" for s in SCENARIOS.values()),
    names=", ".join(SCENARIOS),
)
