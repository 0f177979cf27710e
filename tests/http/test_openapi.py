"""The OpenAPI document: valid, complete, and true (Schemathesis finds no 500 and no schema break)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance
from starlette.routing import BaseRoute, Mount, Route

from mockwise.domain.sandbox import Sandbox
from mockwise.http.app import create_app
from mockwise.http.openapi import openapi_document
from mockwise.inprocess import SyncASGITransport

SANDBOX = Sandbox()
APP = create_app(SANDBOX)
DOC = openapi_document(APP.routes)
API = httpx.Client(transport=SyncASGITransport(APP), base_url="http://testserver")
PROBE = "probe"


def routes_of(routes: list[BaseRoute], prefix: str = "") -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for route in routes:
        if isinstance(route, Mount):
            found |= routes_of(list(route.routes), prefix + route.path)
        elif isinstance(route, Route) and route.include_in_schema:
            path = re.sub(r"{([^}:]+):[^}]+}", r"{\1}", prefix + route.path)
            found |= {(m.lower(), path) for m in route.methods or () if m != "HEAD"}
    return found


def test_document_is_valid_openapi() -> None:
    validate(DOC)


def test_every_route_is_documented() -> None:
    documented = {(m, p) for p, ops in DOC["paths"].items() for m in ops}
    assert routes_of(APP.routes) == documented
    for path, operations in DOC["paths"].items():
        for method, operation in operations.items():
            assert operation.get("summary"), f"{method.upper()} {path} has no summary"
            assert operation.get("responses"), f"{method.upper()} {path} has no responses"


def test_served_document_matches() -> None:
    assert API.get("/_mockwise/openapi.json").json() == DOC


SCHEMA = schemathesis.openapi.from_dict(DOC)


def ensure_probe_tenant() -> None:
    if PROBE not in SANDBOX.tenants:
        SANDBOX.create_tenant(PROBE)


def send(case: Any) -> httpx.Response:
    kwargs = case.as_transport_kwargs(base_url="http://testserver")
    body: dict[str, Any] = {}
    if "json" in kwargs:
        body["json"] = kwargs["json"]
    elif isinstance(kwargs.get("data"), dict):
        body["data"] = kwargs["data"]
    elif kwargs.get("data") is not None:
        body["content"] = kwargs["data"]
    return API.request(
        kwargs["method"],
        kwargs["url"],
        params=kwargs.get("params"),
        headers={
            # generated values may hold any character: sent as the UTF-8 bytes a client would put on
            # the wire (httpx refuses a str header that is not ASCII)
            k: v.encode() if isinstance(v, str) else v
            for k, v in (kwargs.get("headers") or {}).items()
            if k.lower() != "content-length"
        },
        **body,
    )


@SCHEMA.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_operation_answers_500_or_breaks_its_schema(case: Any) -> None:
    """Generated requests, valid and not, against every documented operation of both planes."""
    ensure_probe_tenant()
    if "tenant" in (case.path_parameters or {}):
        case.path_parameters["tenant"] = PROBE  # reach the handlers, not just "no such tenant"
    response = send(case)
    case.validate_response(
        response, checks=[not_a_server_error, response_schema_conformance, content_type_conformance]
    )
    if (
        response.headers.get("content-type", "").startswith("application/json")
        and response.status_code >= 400
    ):
        assert isinstance(response.json(), dict)


@pytest.fixture(autouse=True, scope="module")
def _reset_probe() -> Any:
    yield
    SANDBOX.reset()
