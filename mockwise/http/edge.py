"""The edge every data-plane request passes: Wise's cross-cutting headers and the journal.

- every response carries `x-trace-id`; a sane `X-External-Correlation-Id` is echoed (§12);
- a CalVer prefix (`/2026Q3/oauth/token`) is routed like the plain path (§1), and so is a trailing
  slash (`/oauth/authorize/` is how Wise writes it);
- a declared body larger than the limit is refused before it is read (413, Wise-style JSON), and
  so are headers larger than theirs (431); Wise is silent on both limits: 64 KiB of body (OAuth and
  JSON bodies here are tiny), 16 KiB of headers (Tomcat's default is 8 KiB; JWE tokens and SCA
  signatures fit many times over). The transport refuses what never becomes a whole request
  (`mockwise/server.py`);
- each request becomes one journal entry, filed under the tenant its credentials name.

A pure ASGI middleware (not BaseHTTPMiddleware): it sits on every request, so it stays lean.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mockwise.domain.certificates import EXTENSION, NO_TLS, Connection
from mockwise.domain.faults import FaultKind
from mockwise.domain.journal import Entry
from mockwise.domain.tokens import Token, TokenState
from mockwise.errors import DropConnection, SpringError
from mockwise.http.responses import wise_response

if TYPE_CHECKING:
    from mockwise.domain.sandbox import Sandbox
    from mockwise.domain.tenant import Tenant

ABORT = "mockwise.abort"  # the transport's hook to drop a connection (see mockwise/server.py)
CALVER = re.compile(r"^/(\d{4}Q[1-4])(?=/)")
CONTROL_PREFIX = "/_mockwise"
DEFAULT_MAX_BODY = 64 * 1024  # OAuth and JSON bodies here are tiny; refuse floods early
MAX_HEADER_BYTES = 16 * 1024  # names and values of all headers


class Exchange:
    """One request in flight: its journal entry and, once known, its tenant."""

    __slots__ = ("entry", "route", "tenant")

    def __init__(self, entry: Entry, route: str) -> None:
        self.entry = entry
        self.route = route  # the path as routed: no CalVer prefix, no trailing slash
        self.tenant: Tenant | None = None

    async def admit(
        self, tenant: Tenant, *, client_id: str | None = None, grant_type: str | None = None
    ) -> None:
        """The request's credentials named `tenant`: file it there, at the tenant's time, and
        apply the tenant's faults (a fault answers instead of the route, or delays it)."""
        self.tenant = tenant
        entry = self.entry
        entry.at = tenant.clock.now()
        if client_id is not None:
            entry.client_id = client_id
        if grant_type is not None:
            entry.grant_type = grant_type
        tenant.rate_limits.check(
            entry.client_id, entry.user_id
        )  # 429 when over the limits (§9), before faults use up a shot
        if tenant.faults:
            with tenant.lock:
                fault = tenant.faults.take(self.route, entry.method, entry.grant_type, entry.client_id)
            if fault is not None:
                entry.fault = fault.label
                if fault.kind is FaultKind.DELAY:
                    await asyncio.sleep(fault.seconds)
                else:
                    raise fault.error()

    def presented(self, token: Token | None, state: TokenState) -> None:
        entry = self.entry
        entry.token_state = state.value
        if token is not None:
            entry.token = token.id
            entry.token_kind = token.kind.value
            entry.token_cause = token.end_reason.value if token.end_reason else None
            entry.client_id = entry.client_id or token.client_id
            entry.user_id = token.user_id


def exchange_of(scope: Scope) -> Exchange:
    ex: Exchange = scope["mockwise"]
    return ex


def connection_of(scope: Scope) -> Connection:
    """The listener and client certificate of the request's TLS connection (`NO_TLS` without)."""
    extensions = scope.get("extensions")
    connection: Connection = extensions.get(EXTENSION, NO_TLS) if extensions else NO_TLS
    return connection


class Edge:
    def __init__(self, app: ASGIApp, sandbox: Sandbox, max_body: int = DEFAULT_MAX_BODY) -> None:
        self.app = app
        self.sandbox = sandbox
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path.startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        routed = path
        version = CALVER.match(routed)
        if version is not None:
            routed = routed[version.end() :]
        if len(routed) > 1 and routed.endswith("/"):  # Spring matches `/oauth/token/` as `/oauth/token`
            routed = routed.rstrip("/") or "/"
        if routed != path:
            scope = dict(scope)
            scope["path"] = routed
            scope["raw_path"] = routed.encode()
            if version is not None:
                scope["wise_version"] = version.group(1)

        trace_id = os.urandom(16).hex()
        extra: list[tuple[bytes, bytes]] = [(b"x-trace-id", trace_id.encode())]
        declared = 0
        header_bytes = 0
        for name, value in scope["headers"]:
            header_bytes += len(name) + len(value)
            if name == b"x-external-correlation-id":
                if 0 < len(value) <= 36 and value.isascii() and value.replace(b"-", b"").isalnum():
                    extra.append((b"x-external-correlation-id", value))
            elif name == b"content-length":
                declared = int(value) if value.isdigit() else 0

        wall = time.time()
        entry = Entry(at=wall, wall=wall, method=scope["method"], path=path, trace_id=trace_id)
        if scope["query_string"]:
            entry.query = tuple(
                dict.fromkeys(k for k, _ in parse_qsl(scope["query_string"].decode("latin-1")))
            )
        connection = connection_of(scope)
        entry.cert, entry.server_cert = connection.fingerprint, connection.server_cert
        exchange = Exchange(entry, routed)
        scope["mockwise"] = exchange

        committed = False

        def commit() -> None:
            # Once per request, before the last byte leaves: a client that has its answer can read
            # the journal entry about it at once.
            nonlocal committed
            if not committed:
                committed = True
                entry.done = time.time()
                journal = exchange.tenant.journal if exchange.tenant is not None else self.sandbox.unrouted
                journal.record(entry)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                entry.status = message["status"]
                message["headers"] = [*message.get("headers", ()), *extra]
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                commit()
            await send(message)

        try:
            if header_bytes > MAX_HEADER_BYTES:
                entry.error = "header_fields_too_large"
                await _refuse(
                    SpringError(431, "Request header fields too large"), path, wall, send_with_headers
                )
            elif declared > self.max_body:
                entry.error = "payload_too_large"
                await _refuse(SpringError(413, "Request body too large"), path, wall, send_with_headers)
            else:
                await self.app(scope, receive, send_with_headers)
        except DropConnection:
            entry.error = "connection_reset"
            abort = scope.get("extensions", {}).get(ABORT)
            if abort is None:
                raise  # a server without the extension: it will close the connection its own way
            commit()
            abort()
        except BaseException:
            entry.status = entry.status or 500
            raise
        finally:
            commit()


async def _refuse(error: SpringError, path: str, now: float, send: Send) -> None:
    await wise_response(error, path, now)({"type": "http"}, _no_receive, send)


async def _no_receive() -> Message:  # pragma: no cover - a response never reads the request
    return {"type": "http.disconnect"}
