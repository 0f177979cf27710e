"""Scenarios: the ways a token dies early on Wise, triggered on demand (seed 003, reference §2.5)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from mockwise.domain.tenant import Tenant
from mockwise.http.control.common import JSON, ControlError, body_of, endpoint, field, tenant_of, user_ref
from mockwise.http.responses import WiseJSON

SCENARIOS: dict[str, Callable[[Tenant, JSON], Any]] = {
    "revoke-access": lambda t, d: t.revoke_access(user_ref(d), field(d, "client_id", str, None)),
    "enhanced-security": lambda t, d: t.enable_enhanced_security(user_ref(d)),
    "breach": lambda t, d: t.breach(field(d, "client_id", str, required=True)),
    "change-email": lambda t, d: t.change_email(user_ref(d), field(d, "email", str, required=True)),
    "rotate-secret": lambda t, d: t.rotate_secret(
        field(d, "client_id", str, required=True), field(d, "client_secret", str, None)
    ),
    "revoke-secret": lambda t, d: t.revoke_secret(field(d, "client_id", str, required=True)),
    "reclaim": lambda t, d: t.reclaim(user_ref(d)),
}


@endpoint
async def run_scenario(request: Request) -> Response:
    """
    summary: Make something happen to the tenant's tokens, as it happens on Wise
    description: >
      `revoke-access` {user, client_id?}: the user revokes a partner's access.
      `enhanced-security` {user}: the user enables enhanced security.
      `breach` {client_id}: Wise revokes a client's tokens for a suspected breach.
      `change-email` {user, email}: the user changes their e-mail; all their tokens die.
      `rotate-secret` {client_id, client_secret?}: a new client secret (returned).
      `revoke-secret` {client_id}: the client secret is revoked.
      `reclaim` {user}: the user reclaims a partner-created account; its registration code dies.
      `user` is a user id or e-mail.
    tags: [scenarios]
    parameters:
      - name: scenario
        in: path
        required: true
        schema:
          type: string
          enum: [revoke-access, enhanced-security, breach, change-email, rotate-secret, revoke-secret,
                 reclaim]
    responses:
      200: {description: "The ids of the tokens it ended (and the new secret, for rotate-secret)."}
      404: {description: "Unknown scenario, user or client."}
    """
    tenant = tenant_of(request)
    name = request.path_params["scenario"]
    run = SCENARIOS.get(name)
    if run is None:
        raise ControlError(404, "not_found", f"no scenario {name!r}; try one of {', '.join(SCENARIOS)}")
    outcome = run(tenant, await body_of(request))
    if isinstance(outcome, str):
        return WiseJSON({"scenario": name, "client_secret": outcome})
    return WiseJSON({"scenario": name, "ended": [t.id for t in outcome]})
