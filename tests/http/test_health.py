"""`GET /_mockwise/health`: for container health checks and CI `services:`; open to every caller
(an orchestrator's probe is not on loopback), not journaled, documented in the OpenAPI."""

from __future__ import annotations

import httpx

from mockwise import __version__
from mockwise._domain.sandbox import Sandbox
from mockwise._http.app import create_app
from mockwise._transport.inprocess import SyncASGITransport


def test_health_answers_ok(api: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.create_tenant("one")
    answer = api.get("/_mockwise/health")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "version": __version__, "tenants": 1}
    assert len(sandbox.unrouted) == 0 and len(sandbox.tenant("one").journal) == 0


def test_health_is_open_to_every_caller_and_nothing_else_is(sandbox: Sandbox) -> None:
    transport = SyncASGITransport(create_app(sandbox, admin_token="s3cret"), client=("203.0.113.9", 4000))
    with httpx.Client(transport=transport, base_url="https://api.test") as remote:
        assert remote.get("/_mockwise/health").json()["status"] == "ok"
        assert remote.get("/_mockwise/tenants").status_code == 403
        assert remote.get("/_mockwise/health/../tenants").status_code == 403


def test_health_is_in_the_control_planes_openapi(api: httpx.Client) -> None:
    operation = api.get("/_mockwise/openapi.json").json()["paths"]["/_mockwise/health"]["get"]
    assert operation["summary"] == "Health check"
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["required"] == ["status"]
