"""The OpenAPI document: valid, complete, and true (Schemathesis finds no 500 and no schema break)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis.config import SchemathesisConfig
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from mockwise._domain.sandbox import Sandbox
from mockwise._domain.tenant import Tenant
from mockwise._http.app import create_app
from mockwise._http.openapi import openapi_document
from mockwise._transport.inprocess import SyncASGITransport
from mockwise._transport.webhooks import dispatcher_for, stop_dispatcher

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


def test_every_operation_documents_what_the_guard_and_the_pipeline_may_answer() -> None:
    """Issue 15 item 10: statuses no docstring mentioned (a 401 from the pipeline, a 404 for an
    unknown tenant, the guard's 403 and 415) are part of every operation's document."""
    for path, operations in DOC["paths"].items():
        for method, operation in operations.items():
            answers = set(operation["responses"])
            where = f"{method.upper()} {path}"
            if path.startswith("/_mockwise"):
                assert "403" in answers, where
                assert method not in ("post", "put", "patch", "delete") or "415" in answers, where
                assert "{" not in path or "404" in answers, where
                assert "requestBody" not in operation or {"400", "413"} <= answers, where
            else:
                assert {"431", "5XX"} <= answers, where
                if operation.get("security") and path != "/oauth/authorize":
                    assert {"401", "403", "429"} <= answers, where


def test_required_headers_and_parameters_are_marked_required() -> None:
    status = DOC["paths"]["/v1/one-time-token/status"]["get"]
    [ott] = [p for p in status["parameters"] if "$ref" in p]
    assert DOC["components"]["parameters"]["OneTimeToken"]["required"] is True
    assert ott == {"$ref": "#/components/parameters/OneTimeToken"}
    grants = DOC["paths"]["/oauth/token"]["post"]["requestBody"]["content"][
        "application/x-www-form-urlencoded"
    ]["schema"]["oneOf"]
    required = {g["properties"]["grant_type"]["const"]: set(g["required"]) for g in grants}
    assert required["refresh_token"] == {"grant_type", "refresh_token"}
    assert required["authorization_code"] == {"grant_type", "code", "redirect_uri"}


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/oauth/authorize", "GET, HEAD, POST"),
        ("PUT", "/oauth/authorize/", "GET, HEAD, POST"),
        ("DELETE", "/v1/me", "GET, HEAD"),
        ("OPTIONS", "/_mockwise/tenants", "GET, HEAD, POST"),
        ("PUT", "/_mockwise/tenants/probe/faults", "DELETE, GET, HEAD, POST"),
    ],
)
def test_a_405_allows_every_method_of_the_path(method: str, path: str, allow: str) -> None:
    """Starlette named only the methods of the one route it tried (GET for /oauth/authorize)."""
    ensure_probe_tenant()
    answer = API.request(method, path)
    assert answer.status_code == 405 and answer.headers["allow"] == allow


def loopback(app: ASGIApp) -> ASGIApp:
    """Schemathesis's in-process client calls from "testclient"; the control plane answers loopback."""

    async def called_from_loopback(scope: Scope, receive: Receive, send: Send) -> None:
        await app(
            {**scope, "client": ("127.0.0.1", 50000)} if scope["type"] == "http" else scope, receive, send
        )

    return called_from_loopback


#: The probe tenant has the fixtures' fixed credentials: its personal token reaches the data plane
#: (the control plane ignores it; the token endpoint takes Basic and refuses it).
PERSONAL = "6a4f1c2e-93b7-4d2a-b8e5-0c7d9f3a1b24"
CONFIG = SchemathesisConfig.from_str(
    f"""
headers = {{ Authorization = "Bearer {PERSONAL}" }}

[parameters]
tenant = "{PROBE}"
"""
    + (Path(__file__).resolve().parents[2] / "schemathesis.toml").read_text(encoding="utf-8")
)
SCHEMA = schemathesis.openapi.from_asgi("/_mockwise/openapi.json", loopback(APP), config=CONFIG)


def ensure_probe_tenant() -> None:
    if PROBE not in SANDBOX.tenants:
        tenant, _ = SANDBOX.create_tenant(PROBE, fixed=True)
        deliver_at_once(SANDBOX, tenant)


def deliver_at_once(sandbox: Sandbox, tenant: Tenant) -> None:
    """A generated `…/webhooks/settle` waits (up to 60 s) until no attempt is due: deliveries must
    go out (a dispatcher, as `mockwise serve` has), and end within a blink whatever listens at the
    addresses generated subscriptions name (`https://localhost:9443/…`)."""
    tenant.configure({"webhooks.timeout_ms": 50})
    dispatcher_for(sandbox)


@SCHEMA.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_no_operation_answers_500_or_breaks_its_document(case: Any) -> None:
    """Every check Schemathesis has (status codes, content types, headers, response schemas,
    required headers, methods, schema-valid data accepted and invalid data refused; the
    exceptions are in schemathesis.toml, with their reasons), derandomised, on both planes."""
    ensure_probe_tenant()
    case.call_and_validate()


@pytest.fixture(autouse=True, scope="module")
def _reset_probe() -> Any:
    yield
    stop_dispatcher(SANDBOX)
    SANDBOX.reset()


def test_the_probe_tenant_settles_a_generated_event_within_the_fuzzers_timeout() -> None:
    """What failed once in CI: a generated subscription, a generated event, then `settle` with
    a long timeout waited its whole minute, because nothing sent the deliveries."""
    sandbox = Sandbox()
    tenant, _ = sandbox.create_tenant(PROBE, fixed=True)
    deliver_at_once(sandbox, tenant)
    api = httpx.Client(transport=SyncASGITransport(create_app(sandbox)), base_url="http://testserver")
    base = f"/_mockwise/tenants/{PROBE}/webhooks"
    hook = {"version": "4.0.0", "url": "https://localhost:9443/wise/webhooks"}
    try:
        body = {"trigger_on": "transfers#state-change", "delivery": hook}
        made = api.post(f"{base}/subscriptions", json=body)
        assert made.status_code == 201, made.text
        sent = api.post(f"{base}/events", json={"event_type": "transfers#state-change", "data": {}})
        assert sent.status_code == 201
        settled = api.post(f"{base}/settle", json={"timeout": 59})
        assert settled.status_code == 200 and settled.json()["settled"] is True
    finally:
        stop_dispatcher(sandbox)
