"""Requests that reach no tenant are journaled in the sandbox's unrouted journal, and the control
plane shows it (issue 15, "Also"): a client whose credentials name nothing can see why."""

from __future__ import annotations

import httpx

from mockwise._domain.sandbox import Sandbox
from mockwise._domain.seed import Credentials
from mockwise._http.app import create_app
from mockwise._transport.inprocess import SyncASGITransport
from mockwise.testing._client import SandboxClient
from tests.helpers import bearer, partner

C = "/_mockwise"
STALE = "0b9d3c56-1f0e-4a36-9f55-2f6c2d1f7a10"


def test_requests_naming_no_tenant_are_shown(api: httpx.Client, creds: Credentials) -> None:
    grant = {"grant_type": "client_credentials"}
    api.post("/oauth/token", auth=("no-such-partner", "secret"), data=grant)
    api.get("/v1/me", headers=bearer(STALE))
    api.get("/v1/me")
    api.get("/v1/nowhere")
    api.post("/oauth/token", auth=partner(creds), data=grant)  # this one has a tenant

    shown = api.get(f"{C}/unrouted")
    assert shown.status_code == 200
    entries = shown.json()["entries"]
    assert [(e["method"], e["path"], e["status"]) for e in entries] == [  # newest first, as every journal
        ("GET", "/v1/nowhere", 404),
        ("GET", "/v1/me", 401),
        ("GET", "/v1/me", 401),
        ("POST", "/oauth/token", 401),
    ]
    assert entries[2]["token_state"] == "unknown" and entries[2]["error"] == "invalid_token"
    assert STALE not in shown.text and "secret" not in shown.text  # identities only, never values
    assert shown.json()["total"] == 4 and shown.json()["dropped"] == 0 and shown.json()["capacity"] > 0
    paged = api.get(f"{C}/unrouted", params={"limit": 3}).json()
    assert len(paged["entries"]) == 3 and paged["next"] is not None  # paged as a tenant's journal

    only = api.get(f"{C}/unrouted", params={"path": "/v1/me", "status": 401}).json()["entries"]
    assert len(only) == 2
    assert api.get(f"{C}/unrouted", params={"nope": 1}).status_code == 400

    assert api.delete(f"{C}/unrouted").status_code == 204
    assert api.get(f"{C}/unrouted").json()["entries"] == []


def test_the_python_client_reads_it(sandbox: Sandbox) -> None:
    app = create_app(sandbox)
    with httpx.Client(transport=SyncASGITransport(app), base_url="http://t") as http:
        http.get("/v1/me", headers=bearer(STALE))
    with SandboxClient("http://t", transport=SyncASGITransport(app)) as control:
        [entry] = control.unrouted(path="/v1/me")
    assert entry.status == 401 and entry.token_state == "unknown"
