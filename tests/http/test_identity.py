"""Identity and profile endpoints (§11) and bearer refusals (§10)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from mockwise._domain.sandbox import Sandbox
from mockwise._domain.seed import Credentials
from mockwise._domain.settings import Settings
from mockwise._domain.tenant import Tenant
from tests.helpers import (
    bearer,
    client_credentials,
    error,
    partner,
    registration_tokens,
    token,
    user_token,
)

ENDPOINTS = ["/v1/me", "/v1/profiles", "/v2/profiles"]


def personal_token(creds: Credentials, email: str) -> str:
    return str(next(t["token"] for t in creds.personal_tokens if t["email"] == email))


@pytest.mark.parametrize("path", ENDPOINTS)
def test_no_authorization_header(api: httpx.Client, path: str) -> None:
    response = api.get(path)
    assert error(response) == (401, "unauthorized", "Full authentication is required to access this resource")


@pytest.mark.parametrize("header", ["Bearer", "Bearer   ", "Token abc", "Basic dXNlcjpwYXNz"])
def test_unusable_authorization_header(api: httpx.Client, header: str) -> None:
    assert error(api.get("/v1/me", headers={"Authorization": header}))[:2] == (401, "unauthorized")


def test_unknown_token(api: httpx.Client) -> None:
    response = api.get("/v1/me", headers=bearer(str(uuid.uuid4())))
    assert error(response) == (401, "invalid_token", "Invalid token")
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


def test_expired_token(api: httpx.Client, creds: Credentials, tenant: Tenant) -> None:
    access = registration_tokens(api, creds)["access_token"]
    tenant.clock.advance(12 * 3600)
    assert error(api.get("/v1/me", headers=bearer(access))) == (401, "invalid_token", "Invalid token")
    entry = list(tenant.journal)[-1]
    assert (entry.status, entry.token_state) == (401, "expired")


def test_refresh_token_is_not_a_bearer_token(api: httpx.Client, creds: Credentials) -> None:
    refresh = registration_tokens(api, creds)["refresh_token"]
    assert error(api.get("/v1/me", headers=bearer(refresh)))[:2] == (401, "invalid_token")


def test_echo_token_setting(sandbox: Sandbox, api: httpx.Client) -> None:
    tenant, creds = sandbox.create_tenant(
        settings=Settings().apply({"oauth.echo_token_in_invalid_token": True})
    )
    access = registration_tokens(api, creds)["access_token"]
    tenant.clock.advance(13 * 3600)
    assert error(api.get("/v1/me", headers=bearer(access))) == (401, "invalid_token", access)


def test_me_for_a_user_created_over_api_has_null_name_and_details(
    api: httpx.Client, creds: Credentials
) -> None:
    body = api.get("/v1/me", headers=bearer(registration_tokens(api, creds)["access_token"])).json()
    user = creds.users[2]
    assert body == {"id": user["id"], "name": None, "email": user["email"], "active": True, "details": None}


def test_me_with_a_personal_token(api: httpx.Client, creds: Credentials) -> None:
    alex = creds.users[0]
    body = api.get("/v1/me", headers=bearer(personal_token(creds, alex["email"]))).json()
    assert body["id"] == alex["id"] and body["name"] == "Alex Morgan" and body["active"] is True
    assert set(body["details"]) == {
        "firstName", "lastName", "phoneNumber", "occupation",
        "address", "dateOfBirth", "avatar", "primaryAddress",
    }  # fmt: skip
    assert set(body["details"]["address"]) == {"city", "countryCode", "postCode", "state", "firstLine"}
    assert body["details"]["dateOfBirth"] == "1985-04-12"


def test_users_by_id_only_for_oneself(api: httpx.Client, creds: Credentials) -> None:
    headers = bearer(personal_token(creds, creds.users[0]["email"]))
    assert (
        api.get(f"/v1/users/{creds.users[0]['id']}", headers=headers).json()["email"]
        == creds.users[0]["email"]
    )
    denied = api.get(f"/v1/users/{creds.users[1]['id']}", headers=headers)
    assert denied.status_code == 403 and denied.json()["error"] == "Forbidden"


def test_client_credentials_token_has_no_user(api: httpx.Client, creds: Credentials) -> None:
    response = api.get("/v1/me", headers=bearer(client_credentials(api, creds)))
    body = response.json()
    assert response.status_code == 403
    assert set(body) == {"timestamp", "status", "error", "message", "path"}
    assert body["path"] == "/v1/me" and body["status"] == 403


def test_v1_profiles_lowercase_with_details(api: httpx.Client, creds: Credentials) -> None:
    profiles = api.get("/v1/profiles", headers=bearer(personal_token(creds, creds.users[0]["email"]))).json()
    assert [p["type"] for p in profiles] == ["personal", "business"]
    personal, business = profiles
    assert personal["details"]["firstName"] == "Alex" and personal["details"]["dateOfBirth"] == "1985-04-12"
    assert business["details"]["name"] == "Morgan Analytics Inc."
    assert {"registrationNumber", "companyType", "businessCategory", "webpage"} <= set(business["details"])


def test_v2_profiles_uppercase_and_flat(api: httpx.Client, creds: Credentials) -> None:
    profiles = api.get("/v2/profiles", headers=bearer(personal_token(creds, creds.users[0]["email"]))).json()
    assert [p["type"] for p in profiles] == ["PERSONAL", "BUSINESS"]
    personal, business = profiles
    uuid.UUID(personal["publicId"])
    assert personal["userId"] == creds.users[0]["id"] and personal["currentState"] == "VISIBLE"
    assert personal["address"]["countryIso2Code"] == "US" and personal["address"]["countryIso3Code"] == "usa"
    assert personal["dateOfBirth"] == "1985-04-12" and "details" not in personal
    assert business["businessName"] == "Morgan Analytics Inc." and "firstName" not in business


def test_profile_by_id_in_both_versions(api: httpx.Client, creds: Credentials) -> None:
    headers = bearer(personal_token(creds, creds.users[0]["email"]))
    pid = creds.users[0]["profiles"][1]["id"]
    assert api.get(f"/v1/profiles/{pid}", headers=headers).json()["type"] == "business"
    assert api.get(f"/v2/profiles/{pid}", headers=headers).json()["type"] == "BUSINESS"
    other = creds.users[1]["profiles"][0]["id"]
    for path in (f"/v1/profiles/{other}", f"/v2/profiles/{other}", "/v2/profiles/999999999"):
        assert api.get(path, headers=headers).status_code == 403


def test_a_linked_token_reaches_only_its_profile(
    api: httpx.Client, creds: Credentials, tenant: Tenant
) -> None:
    personal, business = (p["id"] for p in creds.users[0]["profiles"])
    headers = bearer(user_token(api, tenant, creds, creds.users[0]["email"], business))
    assert api.get(f"/v2/profiles/{business}", headers=headers).status_code == 200
    assert api.get(f"/v2/profiles/{personal}", headers=headers).status_code == 403
    assert [p["id"] for p in api.get("/v2/profiles", headers=headers).json()] == [business]


def test_listing_all_profiles_with_a_linked_token_setting(sandbox: Sandbox, api: httpx.Client) -> None:
    tenant, creds = sandbox.create_tenant(
        settings=Settings().apply({"oauth.bound_token_lists_only_its_profile": False})
    )
    alex = creds.users[0]
    access = user_token(api, tenant, creds, alex["email"], alex["profiles"][1]["id"])
    assert len(api.get("/v1/profiles", headers=bearer(access)).json()) == 2


def test_client_credentials_on_user_endpoints_setting(sandbox: Sandbox, api: httpx.Client) -> None:
    _, creds = sandbox.create_tenant(
        settings=Settings().apply({"oauth.client_credentials_on_user_endpoints": 401})
    )
    cc = token(api, creds, grant_type="client_credentials")["access_token"]
    assert error(api.get("/v1/me", headers=bearer(cc)))[:2] == (401, "unauthorized")


def test_revoked_tokens_are_journaled_with_their_cause(
    api: httpx.Client, creds: Credentials, tenant: Tenant
) -> None:
    access = registration_tokens(api, creds)["access_token"]
    tenant.enable_enhanced_security(creds.users[2]["email"])
    assert api.get("/v1/me", headers=bearer(access)).status_code == 401
    entry = list(tenant.journal)[-1]
    assert (entry.token_state, entry.token_cause) == ("revoked", "enhanced_security")
    assert entry.client_id == partner(creds)[0]
