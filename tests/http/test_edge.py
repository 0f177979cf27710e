"""Cross-cutting behaviour of every data-plane response (§12) and the journal's filing."""

from __future__ import annotations

import httpx
import pytest

from mockwise._domain.entries import Shared
from mockwise._domain.sandbox import Sandbox
from mockwise._domain.seed import Credentials
from mockwise._domain.tenant import Tenant
from tests.helpers import partner


def test_every_response_has_a_trace_id(api: httpx.Client, creds: Credentials) -> None:
    ok = api.post("/oauth/token", auth=partner(creds), data={"grant_type": "client_credentials"})
    missing = api.get("/nowhere")
    ids = {ok.headers["x-trace-id"], missing.headers["x-trace-id"]}
    assert len(ids) == 2 and all(len(i) == 32 for i in ids)


def test_correlation_id_is_echoed(api: httpx.Client) -> None:
    cid = "4b0f3a2c-8d1e-4f5a-9b6c-7d8e9f0a1b2c"
    assert (
        api.get("/v1/me", headers={"X-External-Correlation-Id": cid}).headers["x-external-correlation-id"]
        == cid
    )


@pytest.mark.parametrize("value", ["x" * 37, "<script>", ""])
def test_unreasonable_correlation_ids_are_not_echoed(api: httpx.Client, value: str) -> None:
    response = api.get("/v1/me", headers={"X-External-Correlation-Id": value})
    assert "x-external-correlation-id" not in response.headers


def test_unknown_path_is_a_spring_404(api: httpx.Client) -> None:
    response = api.get("/v9/unknown")
    assert response.status_code == 404
    body = response.json()
    assert body["error"] == "Not Found" and body["path"] == "/v9/unknown" and body["status"] == 404
    assert body["timestamp"].endswith("+0000")


def test_oversized_body_is_refused_with_json(api: httpx.Client, creds: Credentials) -> None:
    response = api.post(
        "/oauth/token", auth=partner(creds), content=b"grant_type=client_credentials&pad=" + b"x" * 70_000,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    assert response.status_code == 413 and response.json()["status"] == 413


def test_requests_are_journaled_under_their_tenant(
    sandbox: Sandbox, api: httpx.Client, creds: Credentials, tenant: Tenant
) -> None:
    api.post("/2026Q3/oauth/token", auth=partner(creds), data={"grant_type": "client_credentials", "x": "1"})
    api.post("/oauth/token", auth=("unknown-client", "x"), data={"grant_type": "client_credentials"})
    [entry] = list(tenant.journal)
    assert entry.path == "/2026Q3/oauth/token" and entry.status == 200
    assert entry.grant_type == "client_credentials" and entry.params == ("grant_type", "x")
    assert entry.basic_auth and entry.issued is not None
    [unrouted] = list(sandbox.unrouted)
    assert unrouted.status == 401 and unrouted.error == "unauthorized"


def test_the_journal_never_holds_secrets(api: httpx.Client, creds: Credentials, tenant: Tenant) -> None:
    client_id, secret = partner(creds)
    user = creds.users[2]
    body = api.post(
        "/oauth/token",
        auth=(client_id, secret),
        data={
            "grant_type": "registration_code",
            "email": user["email"],
            "registration_code": user["registration_code"],
        },
    ).json()
    api.get("/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    dumped = repr([e.as_json() for e in tenant.journal])
    for value in (secret, user["registration_code"], body["access_token"], body["refresh_token"]):
        assert value not in dumped


def test_every_request_is_journaled_under_the_tenant_its_credentials_name(
    sandbox: Sandbox, api: httpx.Client, tenant: Tenant, creds: Credentials
) -> None:
    """A 404, a 405 and a 413 with a tenant's token are in that tenant's journal, with the token's
    state; a request that names no tenant goes to the sandbox's unrouted journal."""
    headers = {"Authorization": f"Bearer {creds.personal_tokens[0]['token']}"}
    assert api.get("/2026Q3/no-such-thing", headers=headers).status_code == 404
    assert api.delete("/v1/me", headers=headers).status_code == 405
    big = api.post("/v1/users/exists", headers=headers, content=b"x" * (tenant.settings.limits.max_body + 1))
    assert big.status_code == 413
    journaled = [(e.method, e.route, e.status, e.token_state) for e in tenant.journal]
    assert journaled == [
        ("GET", "/no-such-thing", 404, "valid"),
        ("DELETE", "/v1/me", 405, "valid"),
        ("POST", "/v1/users/exists", 413, "valid"),
    ]
    assert api.get("/v1/me", headers={"Authorization": "Bearer not-a-token"}).status_code == 401
    assert [(e.route, e.token_state) for e in sandbox.unrouted] == [("/v1/me", "unknown")]


def test_entries_of_one_route_and_one_client_share_their_strings(
    api: httpx.Client, creds: Credentials, tenant: Tenant
) -> None:
    """A tenant keeps 10,000 entries: those of a fixed route share its path, and those of requests
    sending the same headers share one tuple of their names (each request brings its own copies)."""
    for _ in range(3):
        api.post("/oauth/token", auth=partner(creds), data={"grant_type": "client_credentials"})
    api.post("/oauth/token", auth=partner(creds), headers={"X-Extra": "1", "x-extra": "2"},
             data={"grant_type": "client_credentials"})  # fmt: skip
    *same, other = list(tenant.journal)
    assert all(e.route is same[0].route and e.path is same[0].route for e in same)
    assert all(e.params is same[0].params == ("grant_type",) for e in same)
    assert all(e.headers is same[0].headers for e in same) and other.headers is not same[0].headers
    extra = [n for n in other.headers if n.lower() == "x-extra"]
    assert len(extra) == 1 and set(other.headers) - set(extra) == set(same[0].headers)


def test_the_table_of_shared_names_stays_bounded() -> None:
    """A client sending new names every time only fills the table, which then starts again."""
    names = Shared(lambda raw: tuple(dict.fromkeys(n.decode("latin-1") for n in raw)), kept=16)
    for n in range(100):
        first = names((b"host", f"x-{n}".encode(), b"host"))
        assert first == ("host", f"x-{n}") and names((b"host", f"x-{n}".encode(), b"host")) is first
        assert len(names) <= 16
