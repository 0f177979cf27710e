"""The ASGI application: the Wise-shaped data plane, wrapped in the edge.

    app = create_app(Sandbox())

Routes parse, call the domain, and render; no business rule lives here.
"""

from __future__ import annotations

import time

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Router

from mockwise.domain.sandbox import Sandbox
from mockwise.errors import SpringError, WiseError
from mockwise.http import (
    authorize,
    balances,
    certificates,
    claim,
    control,
    housekeeping,
    identity,
    jose,
    linking,
    mtls,
    sca,
    security_control,
    signup,
    token,
)
from mockwise.http.edge import Edge, exchange_of
from mockwise.http.forms import MAX_BODY
from mockwise.http.responses import wise_response

DATA_PLANE: list[BaseRoute] = [*token.routes, *identity.routes, *signup.routes, *balances.routes]
DATA_PLANE += [*authorize.routes, *claim.routes, *jose.routes, *sca.routes, *mtls.routes]
CONTROL_TENANT_ROUTES: list[BaseRoute] = []  # per-tenant control routes other surfaces contribute
CONTROL_TENANT_ROUTES += [*linking.routes, *security_control.routes, *certificates.control_routes]
CONTROL_TENANT_ROUTES += housekeeping.routes


def create_app(sandbox: Sandbox | None = None, *, admin_token: str | None = None) -> Starlette:
    """The whole sandbox as one ASGI app: the Wise data plane and the `/_mockwise` control plane."""
    sandbox = sandbox if sandbox is not None else Sandbox()
    control_plane = control.ControlGuard(Router(control.control_routes(CONTROL_TENANT_ROUTES)), admin_token)
    app = Starlette(
        routes=[*DATA_PLANE, Mount(control.PREFIX, app=control_plane)],
        middleware=[
            Middleware(Edge, sandbox=sandbox, max_body=MAX_BODY),
            Middleware(jose.JoseLayer, sandbox=sandbox),  # inside the edge: journalled, traced
        ],
        exception_handlers={WiseError: _wise_error, HTTPException: _http_error, Exception: _server_error},
    )
    app.state.sandbox = sandbox
    return app


def _render(request: Request, error: WiseError) -> Response:
    exchange = exchange_of(request.scope) if "mockwise" in request.scope else None
    if exchange is not None:
        exchange.entry.error = error.code
        exchange.entry.reason = error.reason
        if error.journal is not None:
            exchange.entry.sca = error.journal
        now = exchange.tenant.clock.now() if exchange.tenant is not None else time.time()
        path = exchange.entry.path
    else:
        now, path = time.time(), request.url.path
    return wise_response(error, path, now)


async def _wise_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, WiseError)
    return _render(request, exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = "No message available" if exc.status_code == 404 else str(exc.detail)
    return _render(request, SpringError(exc.status_code, message, headers=dict(exc.headers or {})))


async def _server_error(request: Request, exc: Exception) -> Response:
    # A bug in mockwise, never a Wise behaviour: answer in Wise's 500 shape (§10) and say so.
    return _render(request, SpringError(500, f"mockwise internal error: {type(exc).__name__}"))
