"""`POST /oauth/token` over HTTP: every grant, Wise's response shapes and the error rows of §2.6."""

from __future__ import annotations

import base64
import email.utils
import time
from datetime import datetime

import httpx
import pytest

from mockwise._domain.sandbox import Sandbox
from mockwise._domain.seed import Credentials
from mockwise._domain.settings import Settings
from mockwise._domain.tenant import Tenant
from tests.helpers import (
    bearer,
    client_credentials,
    created_user,
    error,
    partner,
    registration_tokens,
    token,
)

USER_FIELDS = [
    "access_token",
    "token_type",
    "refresh_token",
    "expires_in",
    "expires_at",
    "refresh_token_expires_in",
    "refresh_token_expires_at",
    "scope",
    "created_at",
]


def parse(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def test_client_credentials_response_is_wise_shaped(
    api: httpx.Client, creds: Credentials, tenant: Tenant
) -> None:
    now = tenant.clock.freeze()
    body = token(api, creds, grant_type="client_credentials")
    assert list(body) == ["access_token", "token_type", "expires_in", "expires_at", "scope"]
    assert body["token_type"] == "bearer" and body["scope"] == "transfers"
    assert body["expires_in"] == 43199
    assert parse(body["expires_at"]) == pytest.approx(now + 43200, abs=0.001)
    assert body["expires_at"].endswith("Z") and len(body["expires_at"]) == len("2025-04-11T03:43:28.148Z")


def test_user_grant_response_is_wise_shaped(api: httpx.Client, creds: Credentials, tenant: Tenant) -> None:
    now = tenant.clock.freeze()
    body = registration_tokens(api, creds)
    assert list(body) == USER_FIELDS
    assert body["expires_in"] == 43199
    assert body["refresh_token_expires_in"] == 628639555  # the docs' value (§2.3)
    assert parse(body["refresh_token_expires_at"]) == pytest.approx(now + 628639556, abs=0.001)
    assert body["created_at"].endswith("Z") and len(body["created_at"].split(".")[1]) == 10


def test_response_is_not_cacheable(api: httpx.Client, creds: Credentials) -> None:
    response = api.post("/oauth/token", auth=partner(creds), data={"grant_type": "client_credentials"})
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"] == "application/json"


def test_legacy_response_fields_setting(sandbox: Sandbox, api: httpx.Client) -> None:
    _, creds = sandbox.create_tenant(settings=Settings().apply({"oauth.token_response_fields": "legacy"}))
    assert list(registration_tokens(api, creds)) == [
        "access_token", "token_type", "refresh_token", "expires_in", "scope", "created_at",
    ]  # fmt: skip


def test_jwe_like_client_credentials_tokens_setting(sandbox: Sandbox, api: httpx.Client) -> None:
    _, creds = sandbox.create_tenant(
        settings=Settings().apply({"oauth.client_credentials_token_format": "jwe"})
    )
    value = client_credentials(api, creds)
    assert value.count(".") == 4 and 500 <= len(value) <= 900
    header = value.split(".")[0]
    assert base64.urlsafe_b64decode(header + "==") == b'{"alg":"RS256","enc":"A256GCM","typ":"JWT"}'
    assert api.get("/v1/me", headers=bearer(value)).status_code == 403  # a working partner token


@pytest.mark.parametrize(
    "content_type",
    ["application/x-www-form-urlencoded", "application/x-www-form-urlencoded;charset=UTF-8"],
)
def test_urlencoded_bodies_with_and_without_charset(
    api: httpx.Client, creds: Credentials, content_type: str
) -> None:
    response = api.post(
        "/oauth/token",
        auth=partner(creds),
        content=b"grant_type=client_credentials&unknown=ignored",
        headers={"Content-Type": content_type},
    )
    assert response.status_code == 200


def test_multipart_bodies_are_accepted_like_wises_reference_backend(
    api: httpx.Client, creds: Credentials
) -> None:
    user = created_user(creds)
    response = api.post(
        "/oauth/token",
        auth=partner(creds),
        files={
            "grant_type": (None, "registration_code"),
            "email": (None, user["email"]),
            "registration_code": (None, user["registration_code"]),
        },
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"


def test_refresh_grant_kills_the_previous_access_token(api: httpx.Client, creds: Credentials) -> None:
    first = registration_tokens(api, creds)
    assert api.get("/v1/me", headers=bearer(first["access_token"])).status_code == 200
    second = token(api, creds, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert second["refresh_token"] == first["refresh_token"]
    assert api.get("/v1/me", headers=bearer(second["access_token"])).status_code == 200
    stale = api.get("/v1/me", headers=bearer(first["access_token"]))
    assert error(stale) == (401, "invalid_token", "Invalid token")


def test_authorization_code_grant(api: httpx.Client, creds: Credentials, tenant: Tenant) -> None:
    client_id = creds.clients[0]["client_id"]
    redirect = creds.clients[0]["redirect_uris"][0]
    alex = creds.users[0]
    code = tenant.issue_code(client_id, redirect, alex["email"], alex["profiles"][0]["id"])
    body = token(
        api, creds, grant_type="authorization_code", client_id=client_id, code=code, redirect_uri=redirect
    )
    assert list(body) == USER_FIELDS
    me = api.get("/v1/me", headers=bearer(body["access_token"])).json()
    assert me["id"] == alex["id"] and me["details"]["dateOfBirth"] == alex["date_of_birth"]
    reused = api.post(
        "/oauth/token",
        auth=partner(creds),
        data={
            "grant_type": "authorization_code",
            "client_id": client_id,
            "code": code,
            "redirect_uri": redirect,
        },
    )
    assert error(reused) == (400, "invalid_grant", f"Invalid authorization code: {code}")
    assert api.get("/v1/me", headers=bearer(body["access_token"])).status_code == 401


def test_authorization_code_expires_after_30_minutes_of_tenant_time(
    api: httpx.Client, creds: Credentials, tenant: Tenant
) -> None:
    client_id = creds.clients[0]["client_id"]
    redirect = creds.clients[0]["redirect_uris"][0]
    code = tenant.issue_code(client_id, redirect, creds.users[0]["email"])
    tenant.clock.advance(30 * 60)
    response = api.post(
        "/oauth/token",
        auth=partner(creds),
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect},
    )
    assert error(response)[:2] == (400, "invalid_grant")


def test_redirect_uri_must_match_exactly_at_exchange(
    api: httpx.Client, creds: Credentials, tenant: Tenant
) -> None:
    client_id = creds.clients[0]["client_id"]
    redirect = creds.clients[0]["redirect_uris"][0]
    code = tenant.issue_code(client_id, redirect, creds.users[0]["email"])
    response = api.post(
        "/oauth/token",
        auth=partner(creds),
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect + "?x=1"},
    )
    assert error(response) == (400, "invalid_grant", "Redirect URI mismatch.")


# The error rows of reference §2.6 ------------------------------------------------------------


def test_missing_grant_type(api: httpx.Client, creds: Credentials) -> None:
    response = api.post("/oauth/token", auth=partner(creds), data={})
    assert error(response) == (400, "invalid_request", "Missing grant type")


def test_json_body_is_not_a_form(api: httpx.Client, creds: Credentials) -> None:
    response = api.post("/oauth/token", auth=partner(creds), json={"grant_type": "client_credentials"})
    assert error(response) == (400, "invalid_request", "Missing grant type")


def test_unknown_grant_type(api: httpx.Client, creds: Credentials) -> None:
    response = api.post("/oauth/token", auth=partner(creds), data={"grant_type": "password"})
    assert error(response) == (400, "unsupported_grant_type", "Unsupported grant type: password")


def test_no_client_authentication(api: httpx.Client) -> None:
    response = api.post("/oauth/token", data={"grant_type": "client_credentials"})
    assert error(response) == (401, "unauthorized", "Full authentication is required to access this resource")
    assert response.headers["www-authenticate"].startswith("Basic")


@pytest.mark.parametrize("secret", ["wrong", ""])
def test_wrong_client_secret(api: httpx.Client, creds: Credentials, secret: str) -> None:
    response = api.post(
        "/oauth/token",
        auth=(creds.clients[0]["client_id"], secret),
        data={"grant_type": "client_credentials"},
    )
    assert error(response) == (401, "unauthorized", "Bad credentials")
    assert response.headers["www-authenticate"] == 'Basic realm="oauth2/client"'


def test_unknown_client(api: httpx.Client) -> None:
    response = api.post("/oauth/token", auth=("nobody", "x"), data={"grant_type": "client_credentials"})
    assert error(response) == (401, "unauthorized", "Bad credentials")


@pytest.mark.parametrize(
    ("header", "description"),
    [
        ("Basic !!!notbase64", "Failed to decode basic authentication token"),
        ("Basic " + base64.b64encode(b"no-colon").decode(), "Invalid basic authentication token"),
    ],
)
def test_malformed_basic_header(api: httpx.Client, header: str, description: str) -> None:
    response = api.post(
        "/oauth/token", headers={"Authorization": header}, data={"grant_type": "client_credentials"}
    )
    assert error(response) == (401, "unauthorized", description)


def test_client_credentials_in_the_body_are_refused_by_default(api: httpx.Client, creds: Credentials) -> None:
    client_id, secret = partner(creds)
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    assert api.post("/oauth/token", data=form).status_code == 401


def test_client_credentials_in_the_body_setting(sandbox: Sandbox, api: httpx.Client) -> None:
    _, creds = sandbox.create_tenant(settings=Settings().apply({"oauth.client_auth_in_body": True}))
    client_id, secret = partner(creds)
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    assert api.post("/oauth/token", data=form).status_code == 200
    form["client_secret"] = "wrong"
    assert error(api.post("/oauth/token", data=form))[:2] == (401, "unauthorized")


def test_parameters_in_the_query_string_are_ignored_by_default(api: httpx.Client, creds: Credentials) -> None:
    response = api.post("/oauth/token?grant_type=client_credentials", auth=partner(creds))
    assert error(response) == (400, "invalid_request", "Missing grant type")


def test_query_parameters_setting(sandbox: Sandbox, api: httpx.Client) -> None:
    tenant, creds = sandbox.create_tenant(settings=Settings().apply({"oauth.token_params_from_query": True}))
    assert api.post("/oauth/token?grant_type=client_credentials", auth=partner(creds)).status_code == 200
    # Resolved once, before anyone reads them: the journal and grant-scoped faults see the query's grant
    assert tenant.journal.select()[-1].grant_type == "client_credentials"
    tenant.faults.add("server_error", path="/oauth/token", grant_type="client_credentials")
    faulted = api.post("/oauth/token?grant_type=client_credentials", auth=partner(creds))
    assert faulted.status_code == 500 and tenant.journal.select()[-1].fault is not None
    # the form wins over the query, and a client_id in the query must be the Basic client's too
    form = api.post(
        "/oauth/token?grant_type=nonsense", auth=partner(creds), data={"grant_type": "client_credentials"}
    )
    assert form.status_code == 200
    other = api.post("/oauth/token?grant_type=client_credentials&client_id=someone-else", auth=partner(creds))
    assert error(other) == (401, "invalid_client", "Given client ID does not match authenticated client")


def test_a_mismatched_client_id_is_refused_before_the_grant_is_read(
    api: httpx.Client, creds: Credentials
) -> None:
    response = api.post("/oauth/token", auth=partner(creds), data={"client_id": "someone-else"})
    assert error(response) == (401, "invalid_client", "Given client ID does not match authenticated client")


def test_body_client_id_must_match_the_authenticated_client(api: httpx.Client, creds: Credentials) -> None:
    user = created_user(creds)
    response = api.post(
        "/oauth/token",
        auth=partner(creds),
        data={
            "grant_type": "registration_code",
            "client_id": "someone-else",
            "email": user["email"],
            "registration_code": user["registration_code"],
        },
    )
    assert error(response) == (401, "invalid_client", "Given client ID does not match authenticated client")


def test_bad_registration_code(api: httpx.Client, creds: Credentials) -> None:
    user = created_user(creds)
    response = api.post(
        "/oauth/token",
        auth=partner(creds),
        data={"grant_type": "registration_code", "email": user["email"], "registration_code": "z" * 36},
    )
    assert error(response) == (401, "invalid_grant", "Invalid user credentials.")


def test_reclaimed_account(api: httpx.Client, creds: Credentials, tenant: Tenant) -> None:
    registration_tokens(api, creds)
    tenant.reclaim(created_user(creds)["email"])
    user = created_user(creds)
    response = api.post(
        "/oauth/token",
        auth=partner(creds),
        data={
            "grant_type": "registration_code",
            "email": user["email"],
            "registration_code": user["registration_code"],
        },
    )
    assert error(response) == (401, "invalid_grant", "Invalid user credentials.")


@pytest.mark.parametrize(
    ("form", "description"),
    [
        ({"grant_type": "registration_code", "registration_code": "x" * 32}, "Missing email"),
        ({"grant_type": "registration_code", "email": "a@b.c"}, "Missing registration_code"),
        (
            {"grant_type": "authorization_code", "redirect_uri": "x"},
            "An authorization code must be supplied.",
        ),
        ({"grant_type": "refresh_token"}, "Missing refresh_token"),
    ],
)
def test_missing_grant_parameters(
    api: httpx.Client, creds: Credentials, form: dict[str, str], description: str
) -> None:
    assert error(api.post("/oauth/token", auth=partner(creds), data=form)) == (
        400,
        "invalid_request",
        description,
    )


def test_unknown_or_revoked_refresh_token(api: httpx.Client, creds: Credentials, tenant: Tenant) -> None:
    response = api.post(
        "/oauth/token", auth=partner(creds), data={"grant_type": "refresh_token", "refresh_token": "x"}
    )
    assert error(response) == (400, "invalid_grant", "Invalid refresh token: x")
    tokens = registration_tokens(api, creds)
    tenant.revoke_access(created_user(creds)["email"])
    response = api.post(
        "/oauth/token",
        auth=partner(creds),
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    )
    assert error(response)[:2] == (400, "invalid_grant")


def test_expired_refresh_token(api: httpx.Client, creds: Credentials, tenant: Tenant) -> None:
    tokens = registration_tokens(api, creds)
    tenant.clock.advance(20 * 366 * 24 * 3600)
    response = api.post(
        "/oauth/token",
        auth=partner(creds),
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    )
    assert error(response) == (
        400,
        "invalid_grant",
        f"Invalid refresh token (expired): {tokens['refresh_token']}",
    )


def test_revoked_client_secret_cannot_authenticate(
    api: httpx.Client, creds: Credentials, tenant: Tenant
) -> None:
    tenant.revoke_secret(creds.clients[0]["client_id"])
    response = api.post("/oauth/token", auth=partner(creds), data={"grant_type": "client_credentials"})
    assert error(response) == (401, "unauthorized", "Bad credentials")


def test_rotated_secret(api: httpx.Client, creds: Credentials, tenant: Tenant) -> None:
    old = client_credentials(api, creds)
    client_id = creds.clients[0]["client_id"]
    new_secret = tenant.rotate_secret(client_id)
    assert (
        api.post("/oauth/token", auth=partner(creds), data={"grant_type": "client_credentials"}).status_code
        == 401
    )
    fresh = api.post("/oauth/token", auth=(client_id, new_secret), data={"grant_type": "client_credentials"})
    assert fresh.status_code == 200
    assert api.post("/v1/users/exists", headers=bearer(old), json={"email": "a@b.c"}).status_code == 401


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_other_methods_get_an_oauth_shaped_405(api: httpx.Client, method: str) -> None:
    response = api.request(method, "/oauth/token")
    assert error(response) == (405, "method_not_allowed", f"Request method '{method}' not supported")


def test_versioned_path(api: httpx.Client, creds: Credentials) -> None:
    response = api.post("/2026Q3/oauth/token", auth=partner(creds), data={"grant_type": "client_credentials"})
    assert response.status_code == 200
    assert (
        api.get("/2026Q4/v1/me", headers=bearer(registration_tokens(api, creds)["access_token"])).status_code
        == 200
    )


def test_the_access_token_lifetime_setting(sandbox: Sandbox, api: httpx.Client) -> None:
    """RFC 6749 §5.1 leaves the lifetime to the server: `expires_in` is the one set, less a second."""
    tenant, creds = sandbox.create_tenant(settings=Settings().apply({"oauth.access_token_lifetime": 2}))
    tenant.clock.freeze()
    body = registration_tokens(api, creds)
    assert body["expires_in"] == 1
    tenant.clock.advance(2)
    assert api.get("/v1/me", headers=bearer(body["access_token"])).status_code == 401


def test_minimal_token_answers_carry_what_rfc_6749_requires_only(sandbox: Sandbox, api: httpx.Client) -> None:
    _, creds = sandbox.create_tenant(settings=Settings().apply({"oauth.token_response_fields": "minimal"}))
    assert list(registration_tokens(api, creds)) == ["access_token", "token_type", "refresh_token"]
    assert list(token(api, creds, grant_type="client_credentials")) == ["access_token", "token_type"]


def test_token_type_case_and_extra_fields(sandbox: Sandbox, api: httpx.Client) -> None:
    changes = {"oauth.token_type": "BEARER", "oauth.extra_token_fields": True}
    _, creds = sandbox.create_tenant(settings=Settings().apply(changes))
    body = token(api, creds, grant_type="client_credentials")
    assert body["token_type"] == "BEARER" and body["token_version"] == 2 and "jti" in body


@pytest.mark.parametrize("rotation", [False, True])
def test_a_refresh_answer_may_leave_the_refresh_token_out(
    sandbox: Sandbox, api: httpx.Client, rotation: bool
) -> None:
    """RFC 6749 §6: without rotation the refresh token may be omitted; a rotated one is always sent."""
    changes = {"oauth.refresh_response_refresh_token": "omitted", "oauth.refresh_token_rotation": rotation}
    _, creds = sandbox.create_tenant(settings=Settings().apply(changes))
    first = registration_tokens(api, creds)
    again = token(api, creds, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert ("refresh_token" in again) is rotation
    if not rotation:  # the old one still works
        token(api, creds, grant_type="refresh_token", refresh_token=first["refresh_token"])


@pytest.mark.parametrize("form", ["seconds", "http-date", "absent"])
def test_a_fault_writes_retry_after_in_each_form(
    tenant: Tenant, api: httpx.Client, creds: Credentials, form: str
) -> None:
    """RFC 9110 §10.2.3: delay-seconds or an HTTP-date (rounded up: never a shorter wait)."""
    tenant.faults.add("rate_limited", retry_after=5, retry_after_form=form, clock_offset=3600)
    tenant.faults.add("server_error", status=503, retry_after=5, retry_after_form=form)
    for status in (429, 503):
        answer = api.post("/oauth/token", auth=partner(creds), data={"grant_type": "client_credentials"})
        assert answer.status_code == status
        value = answer.headers.get("retry-after")
        if form == "absent":
            assert value is None
        elif form == "seconds":
            assert value == "5"
        else:
            ahead = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
            assert (3604 if status == 429 else 4) < ahead <= (3606 if status == 429 else 6)


def test_retry_after_forms_are_for_429_and_503_only(tenant: Tenant) -> None:
    with pytest.raises(ValueError, match="retry_after_form"):
        tenant.faults.add("server_error", status=500, retry_after_form="seconds")
    with pytest.raises(ValueError, match="retry_after_form"):
        tenant.faults.add("rate_limited", retry_after_form="tomorrow")
