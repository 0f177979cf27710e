"""The control-plane Python client, against an in-process app."""

from __future__ import annotations

import httpx
import pytest

from mockwise._domain.sandbox import Sandbox
from mockwise._http.app import create_app
from mockwise._transport.inprocess import SyncASGITransport
from mockwise.testing._client import ControlPlaneError, SandboxClient


@pytest.fixture
def setup(sandbox: Sandbox) -> tuple[SandboxClient, httpx.Client]:
    app = create_app(sandbox)
    control = SandboxClient("http://sandbox", transport=SyncASGITransport(app))
    api = httpx.Client(transport=SyncASGITransport(app), base_url="http://sandbox")
    return control, api


def test_tenant_lifecycle_through_the_client(setup: tuple[SandboxClient, httpx.Client]) -> None:
    control, api = setup
    tenant = control.create_tenant("c1")
    auth = (tenant.client["client_id"], tenant.client["client_secret"])
    token = api.post("/oauth/token", auth=auth, data={"grant_type": "client_credentials"}).json()[
        "access_token"
    ]
    tenant.clock.freeze()
    before = tenant.clock.now()
    assert tenant.clock.advance(43200) == pytest.approx(before + 43200)
    assert (
        api.post("/v1/users/exists", headers={"Authorization": f"Bearer {token}"}, json={}).status_code == 401
    )
    [entry] = tenant.journal.entries(status=401)
    assert entry.token_state == "expired" and entry.path == "/v1/users/exists"
    tenant.journal.assert_request_made(path="/oauth/token", grant_type="client_credentials", times=1)
    assert [t["state"] for t in tenant.tokens(state="expired")] == ["expired"]
    assert [t["id"] for t in control.tenants()] == ["c1"]
    tenant.delete()
    assert control.tenants() == []


def test_failed_journal_assertion_explains_what_happened(setup: tuple[SandboxClient, httpx.Client]) -> None:
    control, api = setup
    tenant = control.create_tenant()
    auth = (tenant.client["client_id"], tenant.client["client_secret"])
    user = next(u for u in tenant.users if u.get("registration_code"))
    tokens = api.post(
        "/oauth/token",
        auth=auth,
        data={
            "grant_type": "registration_code",
            "email": user["email"],
            "registration_code": user["registration_code"],
        },
    ).json()
    tenant.revoke_access(user["email"])
    api.get("/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    with pytest.raises(AssertionError) as failure:
        tenant.journal.assert_request_made(path="/oauth/token", grant_type="refresh_token")
    message = str(failure.value)
    assert "expected path='/oauth/token', grant_type='refresh_token' at least once, found 0" in message
    assert "grant=registration_code" in message
    with pytest.raises(AssertionError) as failure:
        tenant.journal.assert_no_request(path="/v1/me")
    assert "revoked (user_revoked_access)" in str(failure.value)


def test_faults_and_scenarios_through_the_client(setup: tuple[SandboxClient, httpx.Client]) -> None:
    control, api = setup
    tenant = control.create_tenant()
    auth = (tenant.client["client_id"], tenant.client["client_secret"])
    fault = tenant.faults.add("rate_limited", path="/oauth/token", retry_after=3)
    assert (
        api.post("/oauth/token", auth=auth, data={"grant_type": "client_credentials"}).headers["retry-after"]
        == "3"
    )
    assert tenant.faults.list()[0]["id"] == fault["id"]
    tenant.faults.clear()
    new_secret = tenant.rotate_secret(tenant.client["client_id"])
    fresh = api.post(
        "/oauth/token",
        auth=(tenant.client["client_id"], new_secret),
        data={"grant_type": "client_credentials"},
    )
    assert fresh.status_code == 200
    with pytest.raises(ControlPlaneError, match="404 not_found"):
        tenant.reclaim("ghost@example.com")
