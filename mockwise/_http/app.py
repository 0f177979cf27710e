"""The ASGI application: the Wise-shaped data plane, wrapped in the edge.

    app = create_app(Sandbox())

Routes parse, call the domain, and render; no business rule lives here.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Mount, Route, Router
from starlette.types import Scope

from mockwise._domain.errors import SpringError, WiseError
from mockwise._domain.sandbox import Sandbox
from mockwise._http import (
    authorize,
    balances,
    calver,
    claim,
    control,
    identity,
    jose,
    mtls,
    sca,
    signup,
    subscriptions,
    token,
)
from mockwise._http.edge import Edge
from mockwise._http.pipeline import RouteCall, fixed_routes, refuse
from mockwise._http.responses import render_error

DATA_PLANE: list[BaseRoute] = [*token.routes, *identity.routes, *signup.routes, *balances.routes]
DATA_PLANE += [*authorize.routes, *claim.routes, *jose.routes, *sca.routes, *mtls.routes]
DATA_PLANE += subscriptions.routes  # webhooks, §8


def create_app(
    sandbox: Sandbox | None = None, *, admin_token: str | None = None, hosts: Iterable[str] | None = None
) -> Starlette:
    """The whole sandbox as one ASGI app: the Wise data plane and the `/_mockwise` control plane.
    `hosts`: the names a served sandbox answers to, besides localhost (its listener's address,
    `--server-name` names); the control plane refuses other `Host`s (`ControlGuard`). None, for an
    app no browser can reach (in-process), checks no `Host`."""
    sandbox = sandbox if sandbox is not None else Sandbox()
    calver.CalVerNames.check(DATA_PLANE)  # every route has a 2026Q3 name, or a reason not to
    control_plane = control.ControlGuard(Router(control.control_routes()), admin_token, hosts)
    app = Starlette(
        routes=[*DATA_PLANE, Mount(control.PREFIX, app=control_plane)],
        middleware=[
            Middleware(
                Edge, sandbox=sandbox, names=calver.CalVerNames(), fixed=fixed_routes(DATA_PLANE, _refusal)
            )
        ],
        exception_handlers={WiseError: _wise_error, HTTPException: _http_error, Exception: _server_error},
    )
    app.state.sandbox = sandbox
    return app


def _render(request: Request, error: WiseError) -> Response:
    """A refusal no route answered (an unknown path, a method the path does not take, a bug)."""
    exchange = request.scope.get("mockwise")
    if exchange is None:  # the control plane: not journaled
        import time

        return render_error(error, request.url.path, time.time())
    return refuse(RouteCall(request, exchange), error)


async def _refusal(request: Request, exc: Exception) -> Response:
    """The handlers below, for a route the edge serves itself (`pipeline.FixedRoute`)."""
    return await (_wise_error if isinstance(exc, WiseError) else _http_error)(request, exc)


async def _wise_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, WiseError)
    return _render(request, exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = "No message available" if exc.status_code == 404 else str(exc.detail)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        # Starlette names the methods of the one route it tried; a path served by several routes
        # (GET and POST /oauth/authorize, each control-plane verb) takes all of theirs.
        scope = {**request.scope, "root_path": request.scope.get("app_root_path", "")}  # from the top
        headers["Allow"] = ", ".join(sorted(_allowed(request.app.routes, scope)))
    return _render(request, SpringError(exc.status_code, message, headers=headers))


def _allowed(routes: list[BaseRoute], scope: Scope) -> set[str]:
    """The methods the routes matching the scope's path take."""
    methods: set[str] = set()
    for route in routes:
        match, child = route.matches(scope)
        if match is Match.NONE:
            continue
        if isinstance(route, Mount):
            methods |= _allowed(route.routes, {**scope, **child})
        elif isinstance(route, Route) and route.methods:
            methods |= route.methods
    return methods


async def _server_error(request: Request, exc: Exception) -> Response:
    # A bug in mockwise, never a Wise behaviour: answer in Wise's 500 shape (§10) and say so.
    return _render(request, SpringError(500, f"mockwise internal error: {type(exc).__name__}"))
