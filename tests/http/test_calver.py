"""Wise's 2026Q3 names (mockwise._http.calver): each answers as its classic route, under a CalVer
prefix only; classic names keep answering with and without one (docs/calver-2026q3.md)."""

from __future__ import annotations

import re

import httpx
import pytest
from starlette.routing import Route

from mockwise._domain.seed import Credentials
from mockwise._domain.tenant import Tenant
from mockwise._http.app import DATA_PLANE
from mockwise._http.calver import CLASSIC_ONLY, TWINS_2026Q3, CalVerNames
from tests.helpers import bearer, client_credentials, created_user, registration_tokens


def personal(creds: Credentials) -> dict[str, str]:
    return bearer(creds.personal_tokens[0]["token"])


def same(a: httpx.Response, b: httpx.Response) -> bool:
    """The same answer, but for what names the request or the moment (`path`, `timestamp`, and a
    statement's `request`, with its own id and time)."""
    drop = {"path", "timestamp", "request"}

    def body(r: httpx.Response) -> object:
        data = r.json()
        return {k: v for k, v in data.items() if k not in drop} if isinstance(data, dict) else data

    return a.status_code == b.status_code and body(a) == body(b)


def test_every_served_route_has_a_2026q3_name_or_a_reason() -> None:
    CalVerNames.check(DATA_PLANE)
    classic = {r.path for r in DATA_PLANE if isinstance(r, Route)}
    assert set(TWINS_2026Q3.values()) | set(CLASSIC_ONLY) == classic
    assert not set(TWINS_2026Q3.values()) & set(CLASSIC_ONLY)


def test_a_new_route_without_a_decision_fails_the_build() -> None:
    async def nothing() -> None: ...

    with pytest.raises(ValueError, match="no 2026Q3 name for /v1/new-thing"):
        CalVerNames.check([*DATA_PLANE, Route("/v1/new-thing", nothing)])
    with pytest.raises(ValueError, match="names routes mockwise does not serve: /v9/gone"):
        CalVerNames.check(DATA_PLANE, {"2026Q3": {"/gone": "/v9/gone"}})


@pytest.mark.parametrize(("name", "classic"), sorted(TWINS_2026Q3.items()))
def test_every_2026q3_name_is_routed(api: httpx.Client, creds: Credentials, name: str, classic: str) -> None:
    route = next(r for r in DATA_PLANE if isinstance(r, Route) and r.path == classic)
    method = sorted((route.methods or {"GET"}) - {"HEAD"})[0]
    alex = creds.users[0]
    ids = {
        "profile_id": alex["profiles"][0]["id"],
        "balance_id": alex["profiles"][0]["balances"][0]["id"],
        "user_id": alex["id"],
        "transfer_id": 77,
        "client_key": creds.clients[0]["client_id"],
        "subscription_id": "00000000-0000-0000-0000-000000000000",
    }
    path = "/2026Q3" + re.sub(r"{(\w+)(?::\w+)?}", lambda m: str(ids[m.group(1)]), name)
    response = api.request(method, path, headers=personal(creds))
    unrouted = response.status_code == 404 and response.json().get("message") == "No message available"
    assert not unrouted, f"{method} {path}"


@pytest.mark.parametrize(
    ("name", "classic"),
    [
        ("/2026Q3/me", "/v1/me"),
        ("/2026Q3/profiles", "/v2/profiles"),
        ("/2026Q3/profiles/{personal}", "/v2/profiles/{personal}"),
        ("/2026Q3/users/{user}", "/v1/users/{user}"),
        ("/2026Q3/profiles/{personal}/balance-statements/{balance}/statement.json",
         "/v1/profiles/{personal}/balance-statements/{balance}/statement.json"),
        ("/2026Q3/profiles/{lena}", "/v2/profiles/{lena}"),  # another user's: the same 403
    ],
)  # fmt: skip
def test_a_2026q3_name_answers_as_its_classic_route(
    api: httpx.Client, creds: Credentials, tenant: Tenant, name: str, classic: str
) -> None:
    tenant.clock.freeze()  # a statement's default interval ends now
    alex, lena = creds.users[0], creds.users[1]
    ids = {
        "personal": alex["profiles"][0]["id"],
        "balance": alex["profiles"][0]["balances"][0]["id"],
        "user": alex["id"],
        "lena": lena["profiles"][0]["id"],
    }
    twin = api.get(name.format(**ids), headers=personal(creds))
    assert same(twin, api.get(classic.format(**ids), headers=personal(creds)))
    assert twin.status_code in (200, 403)


def test_the_2026q3_profile_is_v2_shaped(api: httpx.Client, creds: Credentials) -> None:
    types = {p["type"] for p in api.get("/2026Q3/profiles", headers=personal(creds)).json()}
    assert types == {"PERSONAL", "BUSINESS"}
    legacy = {p["type"] for p in api.get("/2026Q3/v1/profiles", headers=personal(creds)).json()}
    assert legacy == {"personal", "business"}  # the classic name keeps its own shape


def test_user_creation_and_exists_under_2026q3_names(api: httpx.Client, creds: Credentials) -> None:
    partner = bearer(client_credentials(api, creds))
    body = {"email": "new.2026q3@example.com", "registrationCode": "c" * 32}
    made = api.post("/2026Q3/user/signup/registration_code", headers=partner, json=body)
    assert made.status_code == 200 and made.json()["details"] is None
    assert api.post("/2026Q3/users/exists", headers=partner, json={"email": body["email"]}).json() == {
        "exists": True
    }


def test_claim_account_under_its_2026q3_name(api: httpx.Client, creds: Credentials) -> None:
    sam = created_user(creds)
    access = registration_tokens(api, creds)["access_token"]
    answer = api.post(
        "/2026Q3/user/claim-account",
        headers=bearer(access),
        json={"registrationCode": sam["registration_code"]},
    )
    assert answer.status_code == 200 and answer.json()["claimAccountCode"]


@pytest.mark.parametrize("path", ["/me", "/profiles", "/users/exists", "/auth/jose/response/public-keys"])
def test_a_2026q3_name_without_its_version_is_a_404(api: httpx.Client, creds: Credentials, path: str) -> None:
    response = api.get(path, headers=personal(creds))
    assert response.status_code == 404 and response.json()["path"] == path


@pytest.mark.parametrize("path", ["/v1/me", "/2026Q3/v1/me", "/2026Q3/v1/profiles", "/v2/profiles"])
def test_classic_names_answer_with_and_without_a_prefix(
    api: httpx.Client, creds: Credentials, path: str
) -> None:
    assert api.get(path, headers=personal(creds)).status_code == 200


def test_later_versions_keep_the_names_earlier_ones_never_had(api: httpx.Client, creds: Credentials) -> None:
    assert api.get("/2026Q4/me", headers=personal(creds)).status_code == 200
    assert api.get("/2025Q4/me", headers=personal(creds)).status_code == 404
    assert api.get("/2025Q4/v1/me", headers=personal(creds)).status_code == 200


def test_a_2026q3_name_keeps_its_methods(api: httpx.Client, creds: Credentials) -> None:
    assert api.post("/2026Q3/me", headers=personal(creds)).status_code == 405


def test_the_journal_keeps_the_name_as_called_and_faults_follow_the_operation(
    api: httpx.Client, creds: Credentials, tenant: Tenant
) -> None:
    tenant.faults.add("server_error", path="/v1/me", times=1)
    assert api.get("/2026Q3/me", headers=personal(creds)).status_code == 500
    assert api.get("/2026Q3/me", headers=personal(creds)).status_code == 200
    assert [(e.path, e.route, e.status) for e in tenant.journal] == [
        ("/2026Q3/me", "/v1/me", 500),
        ("/2026Q3/me", "/v1/me", 200),
    ]
    assert len(tenant.journal.select(path="/v1/me")) == 2  # one operation, whichever name it was called by


def test_a_fault_may_name_the_2026q3_name_or_the_classic_route(
    api: httpx.Client, tenant: Tenant, creds: Credentials
) -> None:
    headers = {"Authorization": f"Bearer {creds.personal_tokens[0]['token']}"}
    tenant.faults.add("server_error", path="/me")
    assert api.get("/v1/me", headers=headers).status_code == 200  # not called by that name
    assert api.get("/2026Q3/me", headers=headers).status_code == 500
    tenant.faults.add("server_error", path="/v1/me")
    assert api.get("/2026Q3/me", headers=headers).status_code == 500
