"""The request pipeline: what every data-plane request goes through, in order, in one place.

A route declares what it needs (`endpoint(path, handler, auth=…, jose=…, sca=…)`); the pipeline
does the rest and hands the handler a typed `RouteCall`. For every data-plane request:

    edge (mockwise._http.edge)  trace id, correlation id, CalVer prefix, size limits, the journal
                               entry, and the tenant the credentials name (`identify`)
    1. form body               read when the route takes a form (the token endpoint: the grant type
                               and, where allowed, the client credentials live there)
    2. authenticate            Basic client authentication, a valid bearer token, or the tenant the
                               authorize page's `client_id` names; Wise's refusals (§2.6, §10)
    3. client certificate      the mTLS host's checks, on the tenant's clock, for every caller (§6)
    4. rate limit              counted per client after authentication, so failures spend nothing (§9)
    5. faults                  the tenant's armed faults answer instead of the route, or delay it
    6. JOSE                    open a signed/encrypted body for the route (§7)
    7. the route               parses, calls the domain, renders; answers a Response, a `NotedResponse`
                               (a response with the domain's journal note) or a `ScaGuarded` one
    8. SCA                     a `ScaGuarded` answer goes out only once its one-time token clears (§5)
    9. JOSE                    seal the answer; then the journal note, the refusal, the response

Refusals (`WiseError`) from any step are journaled and rendered here, in Wise's shapes. Domain
operations take their tenant's lock themselves; no route touches the lock or the journal entry.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import Receive, Scope, Send

from mockwise._domain.entries import Note, shared_names
from mockwise._domain.errors import (
    OAuthError,
    WiseError,
    bad_client_credentials,
    invalid_token,
    missing_authentication,
)
from mockwise._domain.faults import FaultKind
from mockwise._domain.linking import first_params
from mockwise._domain.model import ApiClient, Profile
from mockwise._domain.sca import ScaAction
from mockwise._domain.tenant import Tenant
from mockwise._domain.tokens import TokenKind, TokenState
from mockwise._http import envelope
from mockwise._http.auth import Caller
from mockwise._http.edge import Exchange, connection_of, exchange_of
from mockwise._http.forms import form_params, json_object
from mockwise._http.responses import render_error

APPROVAL_HEADER = "x-2fa-approval"
RESULT_HEADER = "x-2fa-approval-result"


class Auth(StrEnum):
    """Who may call a route."""

    NONE = "none"  # anyone; the request belongs to no tenant unless its credentials name one
    CLIENT = "client"  # an API client, HTTP Basic (the token endpoint, §2.1)
    BEARER = "bearer"  # a valid access token: user, personal or client-credentials (§10)
    PAGE = "page"  # the authorize page: the tenant its `client_id` names, no credentials (§3)


JoseUse = Literal["no", "yes", "direct"]


@dataclass(frozen=True, slots=True)
class RouteNeeds:
    """What a route declares: its caller, whether its body is a form, JOSE and SCA."""

    auth: Auth = Auth.BEARER
    form: bool = False
    jose: JoseUse = "yes"  # "direct": answer a JWE with the request's own content key (§7.3)
    sca: ScaAction | None = None  # the route answers `ScaGuarded`; the pipeline challenges


@dataclass(slots=True)
class NotedResponse:
    """A route's response with what its domain operation tells the journal."""

    response: Response
    note: Note


@dataclass(slots=True)
class ScaGuarded:
    """An answer to an SCA-protected request that passed the route's own checks (404, 400 first):
    `respond` runs only once the one-time token clears (§5.2)."""

    profile: Profile
    respond: Callable[[], Response]


@dataclass(slots=True)
class RouteCall:
    """One request as the route sees it: its tenant and caller, already checked."""

    request: Request
    exchange: Exchange
    tenant: Tenant | None = None
    caller: Caller | None = None  # with Auth.BEARER
    client: ApiClient | None = None  # with Auth.CLIENT
    params: dict[str, str] = field(default_factory=dict)  # a form body, or the authorize page's query
    jose: envelope.JoseRequest | None = None

    @property
    def bearer(self) -> Caller:
        assert self.caller is not None, "a route without Auth.BEARER has no bearer caller"
        return self.caller

    @property
    def path_params(self) -> dict[str, Any]:
        return self.request.path_params

    async def json(self) -> dict[str, Any]:
        """The body as a JSON object (a JOSE body already opened), or a Spring-style 400."""
        return await json_object(self.request)


Handler = Callable[[RouteCall], Awaitable[Response | NotedResponse | ScaGuarded]]


def endpoint(
    path: str,
    handler: Handler,
    *,
    methods: Sequence[str],
    auth: Auth = Auth.BEARER,
    form: bool = False,
    jose: JoseUse = "yes",
    sca: ScaAction | None = None,
    name: str | None = None,
    include_in_schema: bool = True,
) -> Endpoint:
    """A data-plane route: `handler` behind the pipeline, with what it declared."""
    needs = RouteNeeds(auth, form, jose if auth is Auth.BEARER else "no", sca)

    async def run(request: Request) -> Response:
        return await _pipeline(request, needs, handler)

    run.__doc__ = handler.__doc__  # the endpoint's OpenAPI operation
    run.__name__ = handler.__name__
    return Endpoint(path, run, needs, methods=list(methods), name=name, include_in_schema=include_in_schema)


class Endpoint(Route):
    """A data-plane route and what it declared: the OpenAPI document adds the answers the pipeline
    may give it (`mockwise._http.openapi`), so no docstring has to repeat them."""

    def __init__(
        self, path: str, run: Callable[[Request], Awaitable[Response]], needs: RouteNeeds, **options: Any
    ) -> None:
        super().__init__(path, run, **options)
        self.needs = needs


#: What the app answers a refusal no route rendered with (`WiseError`, Starlette's `HTTPException`).
OnError = Callable[[Request, Exception], Awaitable[Response]]


class FixedRoute:
    """An `Endpoint` whose path has no parameters, served as Starlette's router and
    `request_response` serve it once they have matched it, and answering a `WiseError` or an
    `HTTPException` as the app's handlers do. The edge finds it with one dict lookup
    (`fixed_routes`) instead of the router trying each route's pattern in turn, and the answer
    passes one layer instead of Starlette's three (its exception layer, router and endpoint wrapper).
    """

    __slots__ = ("on_error", "route")

    def __init__(self, route: Endpoint, on_error: OnError) -> None:
        self.route, self.on_error = route, on_error

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self.route
        scope["route"], scope["endpoint"], scope["path_params"] = route, route.endpoint, {}
        request = Request(scope, receive, send)
        try:
            response = await route.endpoint(request)  # `run`, as `endpoint()` made it
        except (WiseError, HTTPException) as error:
            response = await self.on_error(request, error)
        await response(scope, receive, send)


def fixed_routes(routes: Sequence[BaseRoute], on_error: OnError) -> dict[str, dict[str, FixedRoute]]:
    """The endpoints the router would pick by path and method alone: `{path: {method: route}}`,
    for the endpoints whose path has no parameters and that no route before them could take (the
    router takes the first route that matches; those are left to it)."""
    fixed: dict[str, dict[str, FixedRoute]] = {}
    for index, route in enumerate(routes):
        if not _is_fixed(route):
            continue
        assert isinstance(route, Endpoint) and route.methods is not None
        if any(not _is_fixed(r) and _could_take(r, route.path) for r in routes[:index]):
            continue
        methods = fixed.setdefault(route.path, {})
        for method in route.methods:
            methods.setdefault(method, FixedRoute(route, on_error))  # the first route wins, as routing
    return fixed


def _is_fixed(route: BaseRoute) -> bool:
    return isinstance(route, Endpoint) and not route.param_convertors and route.methods is not None


def _could_take(route: BaseRoute, path: str) -> bool:
    """Whether `route` may match `path` (a route of another kind is assumed to)."""
    if isinstance(route, Route | Mount):
        return route.path_regex.match(path) is not None
    return True


async def _pipeline(request: Request, needs: RouteNeeds, handler: Handler) -> Response:
    exchange = exchange_of(request.scope)
    call = RouteCall(request, exchange)
    try:
        if needs.form:
            call.params = _oauth_params(exchange, await form_params(request), request.scope["query_string"])
            exchange.entry.params = shared_names(tuple(call.params))
        _authenticate(call, needs)
        tenant = call.tenant
        if tenant is not None:
            _judge_certificate(call)  # every request, whoever makes it
            if needs.auth in (Auth.CLIENT, Auth.BEARER):
                _count(call)
            await _faults(call)
            if needs.jose != "no" and envelope.is_jose(request):
                call.jose = await _open_jose(call, needs.jose == "direct")
        answer = await handler(call)
        if isinstance(answer, ScaGuarded):
            answer = _guard(call, needs, answer)
        response, note = (
            (answer.response, answer.note) if isinstance(answer, NotedResponse) else (answer, None)
        )
        if note is not None:
            note.apply(exchange.entry)
        if call.jose is not None and call.tenant is not None:
            response = envelope.seal_response(response, call.jose, call.tenant)
        return response
    except WiseError as refusal:
        return refuse(call, refusal)


def refuse(call: RouteCall, error: WiseError) -> Response:
    """Journal a refusal and answer it in Wise's shape (sealed, if the tenant wraps JOSE errors)."""
    entry = call.exchange.entry
    entry.error = error.code
    entry.reason = error.reason
    if error.note is not None:
        error.note.apply(entry)
    tenant = call.tenant or call.exchange.tenant
    response = render_error(error, entry.path, tenant.clock.now() if tenant is not None else entry.wall)
    if call.jose is not None and tenant is not None and tenant.settings.jose.wrap_errors:
        response = envelope.seal_response(response, call.jose, tenant)
    return response


# 1. Form body ------------------------------------------------------------------------------------


def _oauth_params(exchange: Exchange, form: dict[str, str], query: bytes) -> dict[str, str]:
    """A form route's parameters, resolved once, before anything reads them: the form body and,
    for a tenant that takes them there (`oauth.token_params_from_query`, as Spring does [I] §2.1),
    the query string's, the form winning. The tenant is the credentials' (found by the edge), or
    the one the parameters' `client_id` names."""
    if not query:
        return form
    named = first_params(query.decode("latin-1"))
    tenant = exchange.tenant
    if tenant is None:
        client_id = form.get("client_id") or named.get("client_id")
        tenant = exchange.sandbox.tenant_for_client(client_id) if client_id else None
    if tenant is None or not tenant.settings.oauth.token_params_from_query:
        return form
    return {**named, **form}


# 2. Authentication -------------------------------------------------------------------------------


def _authenticate(call: RouteCall, needs: RouteNeeds) -> None:
    exchange = call.exchange
    if needs.auth is Auth.CLIENT:
        _authenticate_client(call)
    elif needs.auth is Auth.BEARER:
        call.caller = _bearer(exchange)
        call.tenant = call.caller.tenant
    elif needs.auth is Auth.PAGE:  # the authorize request travels in the query string (§3)
        call.params = first_params(call.request.scope["query_string"].decode("latin-1"))
        exchange.entry.params = shared_names(tuple(call.params))
        client_id = call.params.get("client_id", "")
        tenant = exchange.sandbox.tenant_for_client(client_id) if client_id else None
        if tenant is not None:
            exchange.file_under(tenant)
            exchange.entry.client_id = client_id
        call.tenant = tenant
    else:
        call.tenant = exchange.tenant


def _authenticate_client(call: RouteCall) -> None:
    """HTTP Basic client authentication [C] §2.1 (form fields where `oauth.client_auth_in_body`)."""
    exchange, params = call.exchange, call.params
    credentials = exchange.credentials
    exchange.entry.basic_auth = credentials.scheme == "basic"
    exchange.entry.grant_type = params.get("grant_type") or None
    if credentials.error is not None:
        raise credentials.error
    client_id, secret = credentials.client_id, credentials.secret
    if client_id is None:
        client_id, secret = params.get("client_id"), params.get("client_secret")
        body_tenant = exchange.sandbox.tenant_for_client(client_id) if client_id else None
        if body_tenant is None or secret is None or not body_tenant.settings.oauth.client_auth_in_body:
            raise missing_authentication()
        exchange.file_under(body_tenant)
    tenant = exchange.tenant
    if tenant is None:
        raise bad_client_credentials()
    exchange.entry.client_id = client_id
    client = tenant.directory.clients.get(client_id or "")
    if (
        client is None
        or client.secret_revoked
        or not tenant.directory.secrets.matches(secret or "", client.secret_digest)
    ):
        raise bad_client_credentials()
    named = params.get("client_id")  # Wise sends it in the body too: it must be the same client
    if named is not None and named != client.client_id:  # Spring checks it before the grant [I] §2.6
        raise OAuthError("invalid_client", "Given client ID does not match authenticated client", 401)
    call.tenant, call.client = tenant, client


def _bearer(exchange: Exchange) -> Caller:
    """The caller behind `Authorization: Bearer <token>` (found once, by the edge), or Wise's
    refusal: 401 `unauthorized` without one, 401 `invalid_token` for a token that does not work."""
    credentials = exchange.credentials
    if credentials.token_value is None:
        raise missing_authentication(realm="oauth2-resource", scheme="Bearer")
    tenant, token = exchange.tenant, exchange.token
    if tenant is None or token is None or token.kind is TokenKind.REFRESH:
        raise _invalid(tenant, credentials.token_value)
    if token.state(tenant.clock.now()) is not TokenState.VALID:
        raise _invalid(tenant, credentials.token_value)
    return Caller(tenant, token)


def _invalid(tenant: Tenant | None, value: str) -> OAuthError:
    if tenant is not None and tenant.settings.oauth.echo_token_in_invalid_token:
        return invalid_token(value[:64])
    return invalid_token()


# 3-5. Certificate, rate limit, faults -------------------------------------------------------------


def _judge_certificate(call: RouteCall) -> None:
    """The mTLS host's checks (§6): for the client the credentials name, or for a caller that is
    no client (a personal token, the authorize page), against the tenant's Developer Hub."""
    assert call.tenant is not None
    connection = connection_of(call.request.scope)
    if call.caller is not None:
        call.tenant.certificates.admit_token(call.caller.token, connection)
    else:
        call.tenant.certificates.admit(call.client.client_id if call.client else None, connection)


def _count(call: RouteCall) -> None:
    assert call.tenant is not None
    entry = call.exchange.entry
    call.tenant.rate_limits.check(entry.client_id, entry.user_id)  # 429 past the limits (§9)


async def _faults(call: RouteCall) -> None:
    tenant = call.tenant
    assert tenant is not None
    if not tenant.faults:
        return
    entry = call.exchange.entry
    called = call.exchange.called  # the names it was called by, when they differ from the route
    fault = tenant.faults.take(call.exchange.route, entry.method, entry.grant_type, entry.client_id, *called)
    if fault is None:
        return
    entry.fault = fault.label
    if fault.kind is FaultKind.DELAY:
        await asyncio.sleep(fault.seconds)
    else:
        raise fault.error()


# 6. JOSE ----------------------------------------------------------------------------------------


async def _open_jose(call: RouteCall, direct: bool) -> envelope.JoseRequest:
    assert call.tenant is not None and call.caller is not None
    entry = call.exchange.entry
    target = envelope.Target(entry.path, entry.route, call.request.scope["query_string"].decode("latin-1"))
    opened = await envelope.open_request(
        call.request, call.tenant, call.caller.token.client_id, target, direct
    )
    entry.jose = opened.describe()
    return opened


# 8. SCA ------------------------------------------------------------------------------------------


def _guard(call: RouteCall, needs: RouteNeeds, guarded: ScaGuarded) -> NotedResponse:
    """Let the answer out, or challenge (403 + `x-2fa-approval`) [C] §5.2."""
    assert needs.sca is not None and call.caller is not None
    caller, headers = call.caller, call.request.headers
    approval = caller.tenant.sca.authorize(
        caller.user(),
        guarded.profile,
        needs.sca,
        caller.kind,
        headers.get(APPROVAL_HEADER),
        headers.get("x-signature"),
    )  # a refusal (ScaChallenge, ScaRefused, ScaLocked) carries its own note
    response = guarded.respond()
    if approval.stamped:
        response.headers[RESULT_HEADER] = "APPROVED"
    return NotedResponse(response, Note(sca=approval.journal))
