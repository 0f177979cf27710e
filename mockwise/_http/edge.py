"""The edge every data-plane request passes: Wise's cross-cutting headers and the journal.

- every response carries `x-trace-id`; a sane `X-External-Correlation-Id` is echoed (§12);
- a CalVer prefix (`/2026Q3/oauth/token`) is routed like the plain path (§1), and so is a trailing
  slash (`/oauth/authorize/` is how Wise writes it); under a prefix, a version's own names of an
  operation (`/2026Q3/me` for `/v1/me`, `mockwise._http.calver`) are routed to its classic route;
- a declared body larger than the limit is refused before it is read (413, Wise-style JSON), and
  so are headers larger than theirs (431); Wise is silent on both limits: 64 KiB of body (OAuth and
  JSON bodies here are tiny), 16 KiB of headers (Tomcat's default is 8 KiB; JWE tokens and SCA
  signatures fit many times over). The transport refuses what never becomes a whole request
  (`mockwise/_transport/sockets.py`);
- each request becomes one journal entry, filed under the tenant its credentials name: the
  `Authorization` header is read once, here (`identify`), whatever the route, so a 404, a 405 or
  a 413 with a tenant's token is in that tenant's journal; requests naming no tenant go to the
  sandbox's unrouted journal;
- with a state store that outlives the process (`mockwise serve`), no answer leaves before the
  changes it may tell of are written: a response is held (status line included) while changes are
  waiting, and goes out once the store's group commit for this event-loop turn is done (`_Held`,
  `Store.settle`). That holds for the control plane too. A read answers at once; its journal
  entry is written with the next commit. When the store cannot write (a full disk), a held answer
  becomes a 503 in Spring's shape (`StoreUnavailable`) and the health check says why.

What happens next, for a request a route takes, is the pipeline (`mockwise._http.pipeline`).
A pure ASGI middleware (not BaseHTTPMiddleware): it sits on every request, so it stays lean.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mockwise._domain.certificates import EXTENSION, NO_TLS, Connection
from mockwise._domain.errors import DropConnection, SpringError
from mockwise._domain.journal import Entry
from mockwise._domain.sandbox import Sandbox
from mockwise._domain.store import Store, StoreUnavailable
from mockwise._domain.tenant import Tenant
from mockwise._domain.tokens import Token, TokenState, presented
from mockwise._http.auth import NO_CREDENTIALS, Credentials, parse_authorization
from mockwise._http.calver import CalVerNames
from mockwise._http.forms import MAX_BODY_KEY
from mockwise._http.responses import render_error

ABORT = "mockwise.abort"  # the transport's hook to drop a connection (see mockwise/_transport/sockets.py)
CALVER = re.compile(r"^/(\d{4}Q[1-4])(?=/)")
CONTROL_PREFIX = "/_mockwise"
HEALTH_PATH = f"{CONTROL_PREFIX}/health"


class Exchange:
    """One request in flight: its journal entry, its credentials, and the tenant they name."""

    __slots__ = ("called", "credentials", "entry", "route", "sandbox", "tenant", "token")

    def __init__(self, sandbox: Sandbox, entry: Entry, route: str, credentials: Credentials) -> None:
        self.sandbox = sandbox
        self.entry = entry
        self.route = route  # the path as routed: no CalVer prefix, no trailing slash
        self.called: tuple[str, ...] = ()  # the other names it was called by (`/2026Q3/me`, `/me`)
        self.credentials = credentials
        self.tenant: Tenant | None = None
        self.token: Token | None = None  # the bearer token presented, when the sandbox knows it
        self._identify()

    def _identify(self) -> None:
        """Find the tenant the credentials name: a bearer token's or a Basic client id's (O(1))."""
        credentials, sandbox = self.credentials, self.sandbox
        if credentials.token_value is not None:
            tenant, token = sandbox.find_token(credentials.token_value)
            if tenant is None:
                presented(None, TokenState.UNKNOWN).apply(self.entry)
                return
            self.token = token
            self.file_under(tenant)
            if token is not None:
                presented(token, token.state(tenant.clock.now())).apply(self.entry)
                self.entry.client_id = token.client_id
        elif credentials.client_id is not None:
            tenant = sandbox.tenant_for_client(credentials.client_id)
            if tenant is not None:
                self.file_under(tenant)
                self.entry.client_id = credentials.client_id

    def file_under(self, tenant: Tenant) -> None:
        """Journal this request under `tenant`, at the tenant's time."""
        self.tenant = tenant
        self.entry.at = tenant.clock.now()


def exchange_of(scope: Scope) -> Exchange:
    ex: Exchange = scope["mockwise"]
    return ex


def connection_of(scope: Scope) -> Connection:
    """The listener and client certificate of the request's TLS connection (`NO_TLS` without)."""
    extensions = scope.get("extensions")
    connection: Connection = extensions.get(EXTENSION, NO_TLS) if extensions else NO_TLS
    return connection


class Edge:
    def __init__(self, app: ASGIApp, sandbox: Sandbox, names: CalVerNames | None = None) -> None:
        self.app = app
        self.sandbox = sandbox
        self.names = names

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path.startswith(CONTROL_PREFIX):
            if self.sandbox.store.persistent and path != HEALTH_PATH:  # health changes nothing: never held
                answer = _Held(self.sandbox.store, scope, send)
                with contextlib.suppress(DropConnection):  # the store could not write: dropped
                    await self.app(scope, receive, answer)
                    await answer.release()
            else:
                await self.app(scope, receive, send)
            return
        routed = path
        version = CALVER.match(routed)
        if version is not None:
            routed = routed[version.end() :]
        if len(routed) > 1 and routed.endswith("/"):  # Spring matches `/oauth/token/` as `/oauth/token`
            routed = routed.rstrip("/") or "/"
        named = routed  # without its version: `/me`
        if version is not None and self.names is not None:
            routed = self.names.classic(version.group(1), routed) or routed  # `/me` → `/v1/me`
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
        authorization = None
        names = []
        for name, value in scope["headers"]:
            names.append(name)
            header_bytes += len(name) + len(value)
            if name == b"x-external-correlation-id":
                if 0 < len(value) <= 36 and value.isascii() and value.replace(b"-", b"").isalnum():
                    extra.append((b"x-external-correlation-id", value))
            elif name == b"content-length":
                declared = int(value) if value.isdigit() else 0
            elif name == b"authorization" and authorization is None:
                authorization = value

        wall = time.time()
        entry = Entry(at=wall, wall=wall, method=scope["method"], path=path, route=routed, trace_id=trace_id)
        entry.headers = tuple(
            dict.fromkeys(n.decode("latin-1") for n in names)
        )  # names only, for the journal
        if scope["query_string"]:
            entry.query = tuple(
                dict.fromkeys(k for k, _ in parse_qsl(scope["query_string"].decode("latin-1")))
            )
        connection = connection_of(scope)
        entry.cert, entry.server_cert = connection.fingerprint, connection.server_cert
        credentials = parse_authorization(authorization) if authorization is not None else NO_CREDENTIALS
        exchange = Exchange(self.sandbox, entry, routed, credentials)
        if routed != path:
            exchange.called = tuple(dict.fromkeys(p for p in (path, named) if p != routed))
        scope["mockwise"] = exchange
        limits = (exchange.tenant.settings if exchange.tenant is not None else self.sandbox.settings).limits
        scope[MAX_BODY_KEY] = limits.max_body  # what `forms.read_body` lets through

        committed = False
        store = self.sandbox.store
        held = _Held(store, scope, send) if store.persistent else None
        downstream: Send = held if held is not None else send

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
            await downstream(message)

        try:
            if header_bytes > limits.max_header_bytes:
                entry.error = "header_fields_too_large"
                await _refuse(
                    SpringError(431, "Request header fields too large"), path, wall, send_with_headers
                )
            elif declared > limits.max_body:
                entry.error = "payload_too_large"
                await _refuse(SpringError(413, "Request body too large"), path, wall, send_with_headers)
            else:
                await self.app(scope, receive, send_with_headers)
            if held is not None:
                await held.release()
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


class _Held:
    """A response held back until what it may tell of is written (with a state store that outlives
    the process): the messages are kept as the app sends them and go out once the app is done, after
    the store's group commit when changes are waiting (`Store.unsettled`); a read goes out at once
    and its journal entry is written with the next commit. Waiting here, not inside the app's
    `send`, resumes one frame instead of the app's whole chain. A streamed body goes as it comes."""

    __slots__ = ("messages", "scope", "send", "store", "streaming")

    def __init__(self, store: Store, scope: Scope, send: Send) -> None:
        self.store, self.scope, self.send = store, scope, send
        self.messages: list[Message] = []
        self.streaming = False

    async def __call__(self, message: Message) -> None:
        if self.streaming:
            await self.send(message)
            return
        self.messages.append(message)
        if message["type"] == "http.response.body" and message.get("more_body", False):
            self.streaming = True
            await self.release()

    async def release(self) -> None:
        if not self.messages:
            return
        store = self.store
        if store.unsettled:
            try:
                await store.settle()
            except StoreUnavailable as refusal:  # the store cannot write: a 503, acknowledging nothing
                self.messages = []
                await render_error(refusal, self.scope["path"], time.time())(
                    self.scope, _no_receive, self.send
                )
                return
            except Exception:  # the store failed otherwise: drop the connection, acknowledge nothing
                abort = self.scope.get("extensions", {}).get(ABORT)
                if abort is None:
                    raise
                abort()
                raise DropConnection() from None
        else:
            store.soon()
        messages, self.messages = self.messages, []
        for message in messages:
            await self.send(message)


async def _refuse(error: SpringError, path: str, now: float, send: Send) -> None:
    await render_error(error, path, now)({"type": "http"}, _no_receive, send)


async def _no_receive() -> Message:  # pragma: no cover - a response never reads the request
    return {"type": "http.disconnect"}
