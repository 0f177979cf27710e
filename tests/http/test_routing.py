"""The edge's fixed-path routes (`pipeline.fixed_routes`) pick what Starlette's router would pick,
and answer as it would."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Match, Mount, Route, Router

from mockwise._domain.sandbox import Sandbox
from mockwise._domain.seed import Credentials
from mockwise._http.app import DATA_PLANE, create_app
from mockwise._http.pipeline import (
    Auth,
    Endpoint,
    NotedResponse,
    RouteCall,
    ScaGuarded,
    endpoint,
    fixed_routes,
)
from mockwise._transport.inprocess import SyncASGITransport
from tests.helpers import partner

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


async def _refuse(request: Request, exc: Exception) -> Response:  # pragma: no cover - never called
    raise exc


def routed(routes: list[BaseRoute], path: str, method: str) -> BaseRoute | None:
    """What Starlette's router serves a request with: the first route that matches fully."""
    scope: dict[str, Any] = {"type": "http", "path": path, "method": method, "root_path": ""}
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return route
    return None


def fixed_pick(routes: list[BaseRoute], path: str, method: str) -> BaseRoute | None:
    found = fixed_routes(routes, _refuse).get(path, {}).get(method)
    return found.route if found is not None else None


def test_the_data_plane_fixed_routes_are_the_routers_choice() -> None:
    table = fixed_routes(DATA_PLANE, _refuse)
    assert {"/oauth/token", "/v1/me", "/v1/profiles", "/oauth/authorize"} <= set(table)
    for path, methods in table.items():
        for method in METHODS:
            found = methods.get(method)
            if found is not None:  # a path left out is the router's: only what is in must agree
                assert found.route is routed(DATA_PLANE, path, method), (path, method)


async def _handler(call: RouteCall) -> Response | NotedResponse | ScaGuarded:
    return PlainTextResponse("")  # pragma: no cover - never called


def test_a_path_an_earlier_pattern_could_take_is_left_to_the_router() -> None:
    get_a = endpoint("/a", _handler, methods=["GET"], auth=Auth.NONE)
    any_x = endpoint("/{x}", _handler, methods=["POST"], auth=Auth.NONE)
    post_a = endpoint("/a", _handler, methods=["POST"], auth=Auth.NONE)
    put_a = endpoint("/a", _handler, methods=["PUT"], auth=Auth.NONE)
    mounted = Mount("/m", app=Router([]))
    under = endpoint("/m/b", _handler, methods=["GET"], auth=Auth.NONE)
    plain = Route("/c", lambda request: PlainTextResponse(""))
    routes: list[BaseRoute] = [get_a, any_x, post_a, put_a, mounted, under, plain]
    table = fixed_routes(routes, _refuse)
    assert table["/a"].keys() == {"GET", "HEAD"}  # POST and PUT /a: `/{x}` comes first
    assert "/m/b" not in table and "/c" not in table  # a mount before it; not an endpoint
    for path in ("/a", "/m/b", "/c"):
        for method in METHODS:
            pick = fixed_pick(routes, path, method)
            assert pick is None or pick is routed(routes, path, method)
    assert routed(routes, "/a", "POST") is any_x and isinstance(get_a, Endpoint)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/oauth/token", 405),  # the token endpoint's own Spring answer
        ("PUT", "/v1/me", 405),  # not in the table: the router's 405, with its Allow
        ("GET", "/v1/me", 401),
        ("POST", "/v1/users/exists", 401),
    ],
)
def test_fixed_and_routed_requests_answer_as_before(
    api: httpx.Client, method: str, path: str, status: int
) -> None:
    answer = api.request(method, path)
    assert answer.status_code == status and "x-trace-id" in answer.headers
    if status == 405 and path == "/v1/me":
        assert answer.headers["allow"] == "GET, HEAD"


def test_an_app_mounted_under_a_root_path_is_routed_by_the_router(
    creds: Credentials, sandbox: Sandbox
) -> None:
    outer = Starlette(routes=[Mount("/wise", app=create_app(sandbox))])
    with httpx.Client(transport=SyncASGITransport(outer), base_url="https://api.wise-sandbox.com") as http:
        ok = http.post("/wise/oauth/token", auth=partner(creds), data={"grant_type": "client_credentials"})
        assert ok.status_code == 200 and ok.json()["token_type"] == "bearer"
        bearer = {"Authorization": "Bearer " + ok.json()["access_token"]}
        assert http.get("/wise/v1/me", headers=bearer).status_code == 403  # found: no user behind it
        assert http.get("/wise/v1/nowhere", headers=bearer).status_code == 404
