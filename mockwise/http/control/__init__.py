"""The control plane under `/_mockwise/`: everything the Python API does, over HTTP, per tenant.

Tests in other processes and languages drive the sandbox from here: tenants, seeding, the clock,
revocation scenarios, faults and the journal. JSON in and out; errors are
`{"error": "<code>", "message": "<why>"}`. Loopback callers are always served; others only with the
admin token (`--admin-token` / `MOCKWISE_ADMIN_TOKEN`) as `Authorization: Bearer <token>`.

Each endpoint's docstring is its OpenAPI operation (YAML), collected into `/_mockwise/openapi.json`.
Every control route is listed in `control_routes()`, here: the one place to add one.
"""

from __future__ import annotations

import hmac
import ipaddress

from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.types import Receive, Scope, Send

from mockwise.http.control import (
    certificates,
    clock,
    dashboard,
    faults,
    health,
    housekeeping,
    journal,
    linking,
    scenarios,
    security,
    tenants,
)
from mockwise.http.control.common import PREFIX
from mockwise.http.responses import WiseJSON

__all__ = ["PREFIX", "ControlGuard", "control_routes", "is_loopback"]


def tenant_routes() -> list[BaseRoute]:
    return [
        *dashboard.tenant_routes(),  # the tenant's pages: journal, tokens, mailbox, settings…
        Route("/reset", tenants.reset_tenant, methods=["POST"]),
        Route("/settings", tenants.get_settings, methods=["GET"]),
        Route("/settings", tenants.patch_settings, methods=["PATCH"]),
        Route("/fidelity", tenants.get_fidelity, methods=["GET"]),
        Route("/fidelity", tenants.patch_fidelity, methods=["PATCH"]),
        Route("/clients", tenants.add_client, methods=["POST"]),
        Route("/users", tenants.add_user, methods=["POST"]),
        Route("/users/{user_id:int}/profiles", tenants.add_profile, methods=["POST"]),
        Route("/users/{user_id:int}/personal-tokens", tenants.add_personal_token, methods=["POST"]),
        Route("/clock", clock.get_clock, methods=["GET"]),
        Route("/clock/advance", clock.advance_clock, methods=["POST"]),
        Route("/clock/set", clock.set_clock, methods=["POST"]),
        Route("/clock/freeze", clock.freeze_clock, methods=["POST"]),
        Route("/clock/unfreeze", clock.unfreeze_clock, methods=["POST"]),
        Route("/scenarios/{scenario}", scenarios.run_scenario, methods=["POST"]),
        Route("/faults", faults.list_faults, methods=["GET"]),
        Route("/faults", faults.add_fault, methods=["POST"]),
        Route("/faults", faults.clear_faults, methods=["DELETE"]),
        Route("/faults/{fault_id}", faults.remove_fault, methods=["DELETE"]),
        Route("/tokens", journal.list_tokens, methods=["GET"]),
        Route("/journal", journal.get_journal, methods=["GET"]),
        Route("/journal", journal.clear_journal, methods=["DELETE"]),
        *housekeeping.routes,  # the journal's capacity, collecting expired tokens
        *linking.routes,  # the scripted user, the mailbox
        *security.routes,  # JOSE keys, SCA switches and keys, rate limits
        *certificates.routes,  # the Developer Hub: client certificates, mTLS enforcement
    ]


def control_routes() -> list[BaseRoute]:
    """Everything under `/_mockwise`; per-tenant routes are mounted under `/tenants/{tenant}`."""
    return [
        *dashboard.site_routes(),  # the tenants page, the API documents and try-it, static assets
        Route("/health", health.health, methods=["GET"]),
        Route("/tenants", tenants.list_tenants, methods=["GET"]),
        Route("/tenants", tenants.create_tenant, methods=["POST"]),
        Route("/reset", tenants.reset_all, methods=["POST"]),
        Route("/tenants/{tenant}", tenants.get_tenant, methods=["GET"]),
        Route("/tenants/{tenant}", tenants.delete_tenant, methods=["DELETE"]),
        Mount("/tenants/{tenant}", routes=tenant_routes()),
    ]


OPEN_TO_ALL = frozenset({f"{PREFIX}/health"})  # a container's or orchestrator's probe


class ControlGuard:
    """Serve the control plane to loopback callers, and to others presenting the admin token
    (the health check, to everyone)."""

    def __init__(self, app: Router, admin_token: str | None = None) -> None:
        self.app = app
        self.admin_token = admin_token

    @property
    def routes(self) -> list[BaseRoute]:  # for the OpenAPI generator, which walks mounts
        return self.app.routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self._allowed(scope):
            message = (
                "the control plane answers loopback callers only; start mockwise with --admin-token"
                if self.admin_token is None
                else "the control plane needs the admin token: Authorization: Bearer <token>"
            )
            await WiseJSON({"error": "forbidden", "message": message}, 403)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _allowed(self, scope: Scope) -> bool:
        if scope["path"] in OPEN_TO_ALL:
            return True
        client = scope.get("client")
        if client is not None and is_loopback(client[0]):
            return True
        if self.admin_token is None:
            return False
        for name, value in scope["headers"]:
            if name == b"authorization":
                presented = value.removeprefix(b"Bearer ").strip()
                return hmac.compare_digest(presented, self.admin_token.encode())
        return False


def is_loopback(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback
