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
import re
import time
from collections.abc import Mapping
from typing import Protocol
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mockwise._domain.certificates import EXTENSION, NO_TLS, Connection
from mockwise._domain.clock import micros_time
from mockwise._domain.entries import ControlCall, Entry, Shared, shared_names
from mockwise._domain.entropy import random_bytes
from mockwise._domain.errors import DropConnection, SpringError
from mockwise._domain.sandbox import Sandbox, Store
from mockwise._domain.store import StoreUnavailable
from mockwise._domain.tenant import Tenant
from mockwise._domain.tokens import Token, TokenState, presented
from mockwise._http.auth import NO_CREDENTIALS, Credentials, parse_authorization
from mockwise._http.calver import CalVerNames
from mockwise._http.forms import MAX_BODY_KEY
from mockwise._http.responses import render_error

ABORT = "mockwise.abort"  # the transport's hook to drop a connection (see mockwise/_transport/sockets.py)
#: The transport's hook to write an answer whole (see mockwise/_transport/sockets.py): `whole(True)`
#: before an answer's start and its one body message are sent, `whole(False)` after; head and body
#: then leave in one write (one system call, one wake-up of the peer).
WHOLE = "mockwise.whole"
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
        """Journal this request under `tenant`, at the tenant's time (exactly: the contract judge
        compares it with the expiry a token was told)."""
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


class Fixed(Protocol):
    """A route the edge serves itself, found by path and method (`mockwise._http.pipeline.FixedRoute`)."""

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> None: ...


class Edge:
    def __init__(
        self,
        app: ASGIApp,
        sandbox: Sandbox,
        names: CalVerNames | None = None,
        fixed: Mapping[str, Mapping[str, Fixed]] | None = None,
    ) -> None:
        self.app = app
        self.sandbox = sandbox
        self.names = names
        # Routes by path and method, for the paths the router would match by name alone: one dict
        # lookup instead of every route's pattern in turn (`pipeline.fixed_routes`). The rest, and
        # an app mounted under a root path, go through the router.
        self.fixed: Mapping[str, Mapping[str, Fixed]] = fixed or {}
        # A fixed route's path as the table's own string: the journal entries of its requests keep
        # that one string instead of each request's copy (a tenant keeps 10,000 entries).
        self.paths: dict[str, str] = {path: path for path in self.fixed}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"].startswith(CONTROL_PREFIX):
            await self._control(scope, receive, send)
            return
        scope, called = self._route(scope)
        head = _Head(scope)
        exchange = self._exchange(scope, head, called)
        entry = exchange.entry
        limits = (exchange.tenant.settings if exchange.tenant is not None else self.sandbox.settings).limits
        scope[MAX_BODY_KEY] = limits.max_body  # what `forms.read_body` lets through
        answer = _Answer(self.sandbox, exchange, head.extra, scope, send)
        try:
            if head.size > limits.max_header_bytes:
                entry.error = "header_fields_too_large"
                await answer.refuse(SpringError(431, "Request header fields too large"))
            elif head.declared > limits.max_body:
                entry.error = "payload_too_large"
                await answer.refuse(SpringError(413, "Request body too large"))
            else:
                methods = self.fixed.get(scope["path"]) if not scope.get("root_path") else None
                route = methods.get(scope["method"]) if methods is not None else None
                if route is not None:
                    await route.serve(scope, receive, answer)
                else:
                    await self.app(scope, receive, answer)
            await answer.release()
        except DropConnection:
            entry.error = "connection_reset"
            abort = scope.get("extensions", {}).get(ABORT)
            if abort is None:
                raise  # a server without the extension: it will close the connection its own way
            answer.commit()
            abort()
        except BaseException:
            entry.status = entry.status or 500
            raise
        finally:
            answer.commit()

    def _route(self, scope: Scope) -> tuple[Scope, tuple[str, ...]]:
        """The path as routed: without a CalVer prefix or a trailing slash, a version's own name of
        an operation mapped to its classic route (§1). Answers the scope to route and the other
        names the request was called by."""
        path: str = scope["path"]
        routed = path
        version = CALVER.match(routed) if routed[1:2].isdigit() else None  # most paths: no regex
        if version is not None:
            routed = routed[version.end() :]
        if len(routed) > 1 and routed.endswith("/"):  # Spring matches `/oauth/token/` as `/oauth/token`
            routed = routed.rstrip("/") or "/"
        named = routed  # without its version: `/me`
        if version is not None and self.names is not None:
            routed = self.names.classic(version.group(1), routed) or routed  # `/me` → `/v1/me`
        if routed == path:
            return scope, ()
        scope = dict(scope)
        scope["path"] = routed
        scope["raw_path"] = routed.encode()
        if version is not None:
            scope["wise_version"] = version.group(1)
        return scope, tuple(dict.fromkeys(p for p in (path, named) if p != routed))

    def _exchange(self, scope: Scope, head: _Head, called: tuple[str, ...]) -> Exchange:
        """The request's journal entry (names of headers and query parameters, never values) and
        the tenant its credentials name."""
        wall = micros_time()
        routed: str = scope["path"]
        routed = self.paths.get(routed, routed)
        path = called[0] if called else routed
        entry = Entry(
            at=wall, wall=wall, method=scope["method"], path=path, route=routed, trace_id=head.trace_id
        )
        entry.headers = head.names
        if scope["query_string"]:
            entry.query = shared_names(
                tuple(dict.fromkeys(k for k, _ in parse_qsl(scope["query_string"].decode("latin-1"))))
            )
        connection = connection_of(scope)
        entry.cert, entry.server_cert = connection.fingerprint, connection.server_cert
        credentials = (
            parse_authorization(head.authorization) if head.authorization is not None else NO_CREDENTIALS
        )
        exchange = Exchange(self.sandbox, entry, routed, credentials)
        exchange.called = called
        scope["mockwise"] = exchange
        return exchange

    async def _control(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A control-plane request: a trailing slash routed as the data plane routes it (the index,
        `/_mockwise/`, is the one path that ends in one), the answer held for the state store like
        the data plane's, and a line for the console's listeners (never a journal entry)."""
        path: str = scope["path"]
        if len(path) > len(CONTROL_PREFIX) + 1 and path.endswith("/"):
            scope = dict(scope)
            scope["path"] = path.rstrip("/")
            scope["raw_path"] = scope["path"].encode()
        call = ControlCall(time.time(), scope["method"], path)

        async def watched(message: Message) -> None:
            if message["type"] == "http.response.start":
                call.status = message["status"]
            await send(message)

        try:
            if self.sandbox.store.persistent and scope["path"] != HEALTH_PATH:  # health changes nothing
                answer = _Held(self.sandbox.store, scope, watched)
                with contextlib.suppress(DropConnection):  # the store could not write: dropped
                    await self.app(scope, receive, answer)
                    await answer.release()
            else:
                await self.app(scope, receive, watched)
        finally:
            call.done = time.time()
            for listener in self.sandbox.control_listeners:
                listener(call)


class _Head:
    """What the edge reads from a request's headers, in one pass: the trace id it answers with,
    a sane correlation id to echo (§12), the declared body length, the `Authorization` header, the
    headers' names (for the journal) and their size (for the limit)."""

    __slots__ = ("authorization", "declared", "extra", "names", "size", "trace_id")

    def __init__(self, scope: Scope) -> None:
        self.trace_id = random_bytes(16).hex()
        self.extra: list[tuple[bytes, bytes]] = [(b"x-trace-id", self.trace_id.encode())]
        declared = size = 0
        authorization: bytes | None = None
        names = []
        for name, value in scope["headers"]:
            names.append(name)
            size += len(name) + len(value)
            if name == b"x-external-correlation-id":
                if 0 < len(value) <= 36 and value.isascii() and value.replace(b"-", b"").isalnum():
                    self.extra.append((b"x-external-correlation-id", value))
            elif name == b"content-length":
                declared = int(value) if value.isdigit() else 0
            elif name == b"authorization" and authorization is None:
                authorization = value
        self.declared, self.size, self.authorization = declared, size, authorization
        self.names = _header_names(tuple(names))


def _decoded_names(raw: tuple[bytes, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(n.decode("latin-1") for n in raw))


# The names of a request's headers, once each, as its journal entry keeps them: decoded once per set
# of names a client sends, and shared by all its entries.
_header_names = Shared(_decoded_names)


class _Answer:
    """The `send` a data-plane request's app gets: adds the edge's headers, records the status,
    writes the journal entry before the last byte leaves (a client that has its answer can read the
    entry about it at once), and holds the answer for the state store when there is one (`_Held`)."""

    __slots__ = ("committed", "exchange", "extra", "held", "sandbox")

    def __init__(
        self, sandbox: Sandbox, exchange: Exchange, extra: list[tuple[bytes, bytes]], scope: Scope, send: Send
    ) -> None:
        self.sandbox, self.exchange, self.extra = sandbox, exchange, extra
        # Held whatever the store: a held answer goes out whole (`WHOLE`), in one write.
        self.held = _Held(sandbox.store, scope, send)
        self.committed = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.exchange.entry.status = message["status"]
            message["headers"] = [*message.get("headers", ()), *self.extra]
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            self.commit()
        await self.held(message)

    def commit(self) -> None:
        """Record the entry, once per request."""
        if not self.committed:
            self.committed = True
            entry, tenant = self.exchange.entry, self.exchange.tenant
            entry.done = micros_time()
            (tenant.journal if tenant is not None else self.sandbox.unrouted).record(entry)

    async def refuse(self, error: SpringError) -> None:
        entry = self.exchange.entry
        await render_error(error, entry.path, entry.wall)({"type": "http"}, _no_receive, self)

    async def release(self) -> None:
        await self.held.release()


class _Held:
    """A response held back until what it may tell of is written (with a state store that outlives
    the process): the messages are kept as the app sends them and go out once the app is done, after
    the store's group commit when changes are waiting (`Store.unsettled`); a read goes out at once
    and its journal entry is written with the next commit. Waiting here, not inside the app's
    `send`, resumes one frame instead of the app's whole chain. A streamed body goes as it comes.
    An answer of one body message goes out whole (`WHOLE`): head and body in one write."""

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
        whole = None
        if len(messages) == 2 and not messages[1].get("more_body", False):
            extensions = self.scope.get("extensions")
            whole = extensions.get(WHOLE) if extensions else None
        if whole is None:
            for message in messages:
                await self.send(message)
            return
        whole(True)
        try:
            for message in messages:
                await self.send(message)
        finally:
            whole(False)


async def _no_receive() -> Message:  # pragma: no cover - a response never reads the request
    return {"type": "http.disconnect"}
