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
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.types import Receive, Scope, Send

from mockwise._http.control import (
    certificates,
    clock,
    dashboard,
    faults,
    fidelity,
    health,
    housekeeping,
    journal,
    linking,
    scenarios,
    security,
    tenants,
    webhooks,
)
from mockwise._http.control.common import PREFIX, ControlError, control_error_response
from mockwise._pki import DEFAULT_SERVER_NAMES  # names a loopback listener always answers to

__all__ = ["PREFIX", "ControlGuard", "control_routes", "is_loopback"]


def tenant_routes() -> list[BaseRoute]:
    return [
        *dashboard.tenant_routes(),  # the tenant's pages: journal, tokens, mailbox, settings…
        Route("/reset", tenants.reset_tenant, methods=["POST"]),
        Route("/settings", tenants.get_settings, methods=["GET"]),
        Route("/settings", tenants.patch_settings, methods=["PATCH"]),
        Route("/fidelity", fidelity.get_fidelity, methods=["GET"]),  # deprecated: flat names
        Route("/fidelity", fidelity.patch_fidelity, methods=["PATCH"]),
        Route("/clients", tenants.add_client, methods=["POST"]),
        Route("/users", tenants.add_user, methods=["POST"]),
        Route("/users/{user}", tenants.get_user, methods=["GET"]),
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
        *webhooks.tenant_routes(),  # subscriptions, events, the delivery log and its page (§8)
    ]


def control_routes() -> list[BaseRoute]:
    """Everything under `/_mockwise`; per-tenant routes are mounted under `/tenants/{tenant}`."""
    return [
        *dashboard.site_routes(),  # the tenants page, the API documents and try-it, static assets
        Route("/health", health.health, methods=["GET"]),
        *webhooks.site_routes(),  # the public key webhooks are signed with
        Route("/tenants", tenants.list_tenants, methods=["GET"]),
        Route("/tenants", tenants.create_tenant, methods=["POST"]),
        Route("/reset", tenants.reset_all, methods=["POST"]),
        Route("/unrouted", journal.get_unrouted, methods=["GET"]),
        Route("/unrouted", journal.clear_unrouted, methods=["DELETE"]),
        Route("/tenants/{tenant}", tenants.get_tenant, methods=["GET"]),
        Route("/tenants/{tenant}", tenants.delete_tenant, methods=["DELETE"]),
        Mount("/tenants/{tenant}", routes=tenant_routes()),
    ]


OPEN_TO_ALL = frozenset({f"{PREFIX}/health", f"{PREFIX}{webhooks.PUBLIC_KEY_PATH}"})  # a probe; a public key


class ControlGuard:
    """Who may use the control plane. Every request under `/_mockwise` passes here first:

    - a caller presenting the admin token (`--admin-token`, exactly `Authorization: Bearer <token>`)
      is served from any address;
    - anyone else only from loopback, and only when the request cannot be a web page's doing (a
      page open in the developer's browser can reach 127.0.0.1 too):
      - its `Host` must be one of the sandbox's own names (`hosts`: the listener's address,
        localhost, `--server-name` names), which stops DNS rebinding (a page on attacker.example,
        re-resolved to 127.0.0.1, sends `Host: attacker.example`); in-process apps (`hosts` None)
        have no socket a browser could reach. A `Host` or `Origin` with userinfo (`x@`) is refused:
        browsers never send one, and a parser may read a different host out of it;
      - a write must not come from another site, by `Origin` or `Sec-Fetch-Site` (CSRF);
    - a write that carries a body must say it is JSON (`Content-Type: application/json`; the
      certificate routes also take PEM types). A web page can send text/plain or a form to any
      address without asking; JSON needs a CORS preflight, which the control plane never grants.

    The health check is open to everyone (a container's or orchestrator's probe), and so is the
    public key webhooks are signed with (a receiver elsewhere fetches it). An empty admin
    token counts as none: it would otherwise open the control plane to anyone.
    """

    def __init__(
        self, app: Router, admin_token: str | None = None, hosts: Iterable[str] | None = None
    ) -> None:
        self.app = app
        self.admin_token = (admin_token or "").strip() or None
        self.hosts = None if hosts is None else frozenset(map(host_name, [*DEFAULT_SERVER_NAMES, *hosts]))

    @property
    def routes(self) -> list[BaseRoute]:  # for the OpenAPI generator, which walks mounts
        return self.app.routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = self._refusal(scope) if scope["type"] == "http" else None
        if refusal is not None:
            await control_error_response(refusal)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _refusal(self, scope: Scope) -> ControlError | None:
        if scope["path"] in OPEN_TO_ALL and scope["method"] in SAFE_METHODS:
            return None
        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            headers.setdefault(name, value)  # the first of each, as the data plane reads them
        write = scope["method"] not in SAFE_METHODS
        if not self._admin(headers.get(b"authorization")):
            client = scope.get("client")
            if client is None or not is_loopback(client[0]):
                return ControlError(403, "forbidden", NO_TOKEN if self.admin_token is None else WRONG_TOKEN)
            host = headers.get(b"host", b"").decode("latin-1")
            if "@" in host or (self.hosts is not None and host and host_name(host) not in self.hosts):
                return ControlError(403, "unknown_host", UNKNOWN_HOST.format(host=host[:100]))
            if write and _cross_site(scope, headers):
                return ControlError(403, "cross_site", CROSS_SITE)
        if write and not _json_write(headers):
            return ControlError(415, "unsupported_media_type", NOT_JSON)
        return None

    def _admin(self, authorization: bytes | None) -> bool:
        """Exactly `Bearer <the admin token>` (the scheme in any case, one space)."""
        if self.admin_token is None or authorization is None:
            return False
        scheme, space, presented = authorization.partition(b" ")
        return (
            scheme.lower() == b"bearer"
            and space == b" "
            and hmac.compare_digest(presented, self.admin_token.encode())
        )


NO_TOKEN = "the control plane answers loopback callers only; start mockwise with --admin-token"
WRONG_TOKEN = "the control plane needs the admin token: Authorization: Bearer <token>"
UNKNOWN_HOST = (
    "Host {host!r} is not a name of this sandbox (a DNS rebinding page?); start mockwise with "
    "--server-name for another name"
)
CROSS_SITE = "the control plane refuses writes from another site's pages (Origin, Sec-Fetch-Site)"
NOT_JSON = (
    "control-plane writes take JSON: send Content-Type: application/json "
    "(curl: -H 'Content-Type: application/json')"
)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: What a write's body may be: JSON, or a certificate or CSR as PEM (none is a type a web page may
#: send to another origin without a preflight: text/plain, forms and multipart are).
WRITE_TYPES = frozenset({"application/json", *certificates.PEM_TYPES})


def host_name(value: str) -> str:
    """The name in a `Host` header or a configured name: no port, no brackets, lower case, an IP
    address in its canonical form."""
    value = value.strip().lower()
    if value.startswith("["):
        value = value[1 : value.find("]")] if "]" in value else value[1:]
    elif value.count(":") == 1:
        value = value.partition(":")[0]
    value = value.rstrip(".")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return value


def _cross_site(scope: Scope, headers: dict[bytes, bytes]) -> bool:
    """Whether a browser says the request comes from a page of another origin."""
    site = headers.get(b"sec-fetch-site")
    if site is not None and site not in (b"same-origin", b"none"):
        return True
    origin = headers.get(b"origin")
    if origin is None:
        return False  # not from a browser page (browsers send Origin on every cross-origin write)
    parts = urlsplit(origin.decode("latin-1"))
    theirs = _origin(parts.scheme, parts.netloc)
    return theirs is None or theirs != _origin(
        scope.get("scheme", "http"), headers.get(b"host", b"").decode("latin-1")
    )


def _origin(scheme: str, netloc: str) -> tuple[str, str, int | None] | None:
    if "@" in netloc:
        return None  # userinfo: an origin never has one (RFC 6454 §6.1), a URL parser reads past it
    try:
        parts = urlsplit(f"//{netloc}")
        port = parts.port
    except ValueError:
        return None
    if not scheme or not parts.hostname:
        return None  # `Origin: null` (a sandboxed frame, a file) is no one's origin
    return scheme.lower(), host_name(parts.hostname), port or {"http": 80, "https": 443}.get(scheme.lower())


def _json_write(headers: dict[bytes, bytes]) -> bool:
    declared = headers.get(b"content-type")
    if declared is None:  # no body at all (`curl -X POST …/reset`) is fine
        return headers.get(b"content-length", b"0") == b"0" and b"transfer-encoding" not in headers
    return declared.partition(b";")[0].strip().lower().decode("latin-1") in WRITE_TYPES


def is_loopback(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback
