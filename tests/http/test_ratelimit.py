"""Rate limits over HTTP (§9): 429, `Retry-After`, `X-Rate-Limited-By`, an empty body, per client."""

from __future__ import annotations

import httpx

from mockwise._domain.seed import Credentials
from mockwise._domain.tenant import Tenant
from tests.helpers import bearer, partner


def test_off_for_new_tenants(api: httpx.Client, creds: Credentials) -> None:
    headers = bearer(creds.personal_tokens[0]["token"])
    assert {api.get("/v1/me", headers=headers).status_code for _ in range(150)} == {200}


def test_a_client_over_the_limit_gets_429(api: httpx.Client, creds: Credentials, tenant: Tenant) -> None:
    tenant.clock.freeze()
    tenant.rate_limits.configure(enabled=True, per_second=3)
    form = {"grant_type": "client_credentials"}
    assert [api.post("/oauth/token", auth=partner(creds), data=form).status_code for _ in range(3)] == [
        200
    ] * 3
    limited = api.post("/oauth/token", auth=partner(creds), data=form)
    assert limited.status_code == 429 and limited.content == b""
    assert limited.headers["retry-after"] == "1" and limited.headers["x-rate-limited-by"] == "wise-public-api"
    assert limited.headers["content-type"] == "application/json" and "x-trace-id" in limited.headers
    entry = list(tenant.journal)[-1]
    assert entry.status == 429 and entry.error == "rate_limited" and entry.client_id == partner(creds)[0]

    me = bearer(creds.personal_tokens[0]["token"])  # another caller (a personal token): its own count
    assert api.get("/v1/me", headers=me).status_code == 200
    tenant.clock.advance(1)  # honouring Retry-After is enough
    assert api.post("/oauth/token", auth=partner(creds), data=form).status_code == 200


def test_user_tokens_count_against_their_client(
    api: httpx.Client, creds: Credentials, tenant: Tenant
) -> None:
    tenant.clock.freeze()
    tenant.rate_limits.configure(enabled=True, per_second=2)
    user = creds.users[2]  # created over API by the partner
    grant = {
        "grant_type": "registration_code",
        "client_id": creds.clients[0]["client_id"],
        "email": user["email"],
        "registration_code": user["registration_code"],
    }
    access = api.post("/oauth/token", auth=partner(creds), data=grant).json()["access_token"]
    assert api.get("/v1/me", headers=bearer(access)).status_code == 200
    assert api.get("/v1/me", headers=bearer(access)).status_code == 429


def test_configured_over_the_control_plane(api: httpx.Client, creds: Credentials, tenant: Tenant) -> None:
    base = f"/_mockwise/tenants/{tenant.id}/rate-limits"
    assert api.get(base).json() == {
        "enabled": False, "per_second": 100, "per_minute": 1000, "limited_by": "wise-public-api", "usage": {},
    }  # fmt: skip
    changed = api.patch(base, json={"enabled": True, "per_minute": 2, "limited_by": "edge"})
    assert changed.status_code == 200 and changed.json()["per_minute"] == 2
    headers = bearer(creds.personal_tokens[0]["token"])
    api.get("/v1/me", headers=headers)
    api.get("/v1/me", headers=headers)
    limited = api.get("/v1/me", headers=headers)
    assert limited.status_code == 429 and limited.headers["x-rate-limited-by"] == "edge"
    assert 0 < int(limited.headers["retry-after"]) <= 60
    user_id = creds.personal_tokens[0]["user_id"]
    assert api.get(base).json()["usage"] == {f"user:{user_id}": {"last_second": 2, "last_minute": 2}}
    bad = api.patch(base, json={"per_second": 0})
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_request"
    assert api.patch(base, json={"burst": 1}).status_code == 400


def test_failed_authentications_spend_nothing(api: httpx.Client, creds: Credentials, tenant: Tenant) -> None:
    """Issue 15 item 6: requests naming the partner with a wrong secret, or a bad token, are refused
    before they are counted, so whoever sends them cannot use up the partner's quota."""
    tenant.clock.freeze()
    tenant.rate_limits.configure(enabled=True, per_second=3, per_minute=3)
    client_id, _ = partner(creds)
    form = {"grant_type": "client_credentials"}
    wrong = [api.post("/oauth/token", auth=(client_id, "not-the-secret"), data=form) for _ in range(20)]
    assert {r.status_code for r in wrong} == {401}  # refused each time, never 429 (no budget of their own)
    token = api.post("/oauth/token", auth=partner(creds), data=form)
    assert token.status_code == 200
    ended = [api.get("/v1/me", headers=bearer("not-a-token")) for _ in range(20)]
    assert {r.status_code for r in ended} == {401}
    assert api.post("/oauth/token", auth=partner(creds), data=form).status_code == 200
    assert tenant.rate_limits.usage() == {client_id: {"last_second": 2, "last_minute": 2}}


def test_anonymous_authorize_page_loads_spend_nothing(
    api: httpx.Client, creds: Credentials, tenant: Tenant
) -> None:
    """Issue 15 item 6: anyone can load the authorize page naming a client; the page is the user's,
    not the partner's API call, so it is not counted against the partner."""
    tenant.clock.freeze()
    tenant.rate_limits.configure(enabled=True, per_second=3, per_minute=3)
    client = creds.clients[0]
    page = {"client_id": client["client_id"], "redirect_uri": client["redirect_uris"][0]}
    assert {api.get("/oauth/authorize/", params=page).status_code for _ in range(20)} == {200}
    form = {"grant_type": "client_credentials"}
    assert [api.post("/oauth/token", auth=partner(creds), data=form).status_code for _ in range(3)] == [
        200
    ] * 3
