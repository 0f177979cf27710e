"""Bad input to the control plane gets a 400 with its error body, never a 500 (issue 15 items 5
and 9): JSON nested past any real document, and values the domain refuses (client ids Basic
cannot carry, redirect URIs that are not URIs, e-mails that are not e-mails)."""

from __future__ import annotations

import re

import httpx
import pytest

from mockwise._domain.sandbox import Sandbox
from mockwise._domain.scenarios import SCENARIOS
from mockwise._domain.seed import Credentials
from mockwise._domain.tenant import Tenant
from mockwise._http.app import create_app
from mockwise._http.forms import MAX_JSON_DEPTH
from mockwise._http.openapi import openapi_document

C = "/_mockwise"
JSON = {"Content-Type": "application/json"}
WRITES = sorted(
    (method.upper(), path)
    for path, operations in openapi_document(create_app(Sandbox()).routes)["paths"].items()
    for method in operations
    if path.startswith(C) and method in ("post", "put", "patch")
)
#: Writes that take no body (nothing to parse): they answer as if none was sent.
BODILESS = {
    "/reset",
    "/clock/freeze",
    "/clock/unfreeze",
    "/personal-tokens",
    "/collect",
    "/jose/rotate",
    "/revoke",
}


def concrete(path: str, tenant: Tenant, creds: Credentials) -> str:
    client_id = creds.clients[0]["client_id"]
    values = {
        "tenant": tenant.id,
        "client_id": client_id,
        "user_id": str(next(iter(tenant.directory.users))),
        "scenario": next(iter(SCENARIOS)),
        "fingerprint": tenant.certificates.issue(client_id).fingerprint if "{fingerprint}" in path else "",
        "subscription_id": _subscription(tenant, client_id) if "{subscription_id}" in path else "",
    }
    return re.sub(r"{(\w+)}", lambda m: values[m.group(1)], path)


def _subscription(tenant: Tenant, client_id: str) -> str:
    body = {
        "name": "s",
        "trigger_on": "transfers#state-change",
        "delivery": {"version": "4.0.0", "url": "https://localhost/x"},
    }
    made = tenant.webhooks.subscribe(
        body,
        domain="application",
        scope_id=client_id,
        created_by=("application", client_id),
        client_id=client_id,
    )
    return made.id


@pytest.mark.parametrize("depth", [100_000, MAX_JSON_DEPTH + 1], ids=["recursion", "past the limit"])
@pytest.mark.parametrize(("method", "path"), WRITES, ids=[f"{m} {p}" for m, p in WRITES])
def test_deeply_nested_json_is_a_400_everywhere(
    api: httpx.Client, tenant: Tenant, creds: Credentials, method: str, path: str, depth: int
) -> None:
    body = b'{"a": ' + b"[" * depth + b"]" * depth + b"}"
    answer = api.request(method, concrete(path, tenant, creds), content=body, headers=JSON)
    if any(path.endswith(tail) for tail in BODILESS):
        assert answer.status_code < 300
        return
    assert answer.status_code == 400, answer.text
    assert answer.json() == {
        "error": "invalid_json",
        "message": f"the body is not usable JSON: nested deeper than {MAX_JSON_DEPTH} levels",
    }


def test_json_as_deep_as_the_limit_is_read(api: httpx.Client, tenant: Tenant) -> None:
    nested = b"[" * (MAX_JSON_DEPTH - 1) + b"]" * (MAX_JSON_DEPTH - 1)
    answer = api.patch(
        f"{C}/tenants/{tenant.id}/settings", content=b'{"sca.pin": ' + nested + b"}", headers=JSON
    )
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"  # read, then refused


def test_the_data_plane_refuses_deep_json_the_same_way(api: httpx.Client, creds: Credentials) -> None:
    client = creds.clients[0]
    token = api.post(
        "/oauth/token",
        auth=(client["client_id"], client["client_secret"]),
        data={"grant_type": "client_credentials"},
    ).json()["access_token"]
    deep = b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1)
    answer = api.post("/v1/users/exists", content=deep, headers={**JSON, "Authorization": f"Bearer {token}"})
    assert answer.status_code == 400
    assert answer.json()["message"] == f"JSON parse error: nested deeper than {MAX_JSON_DEPTH} levels"


# 9. Values the domain refuses ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("client_id", "message"),
    [
        ("acme:bank", "contains ':', which HTTP Basic cannot carry in a user name"),
        ("", "a client id is 1-255 characters"),
        ("x" * 256, "a client id is 1-255 characters"),
        ("acme\nbank", "a client id contains no control characters"),
    ],
    ids=["colon", "empty", "long", "newline"],
)
def test_a_client_id_basic_cannot_carry_is_refused(
    api: httpx.Client, tenant: Tenant, client_id: str, message: str
) -> None:
    answer = api.post(f"{C}/tenants/{tenant.id}/clients", json={"client_id": client_id, "client_secret": "s"})
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_request" and message in answer.json()["message"]
    assert client_id not in tenant.directory.clients
    with pytest.raises(ValueError, match=re.escape(message)):  # the Python API refuses it too
        tenant.directory.add_client(client_id, "s")


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("", "a redirect URI cannot be empty"),
        ("javascript:alert(document.cookie)", "a javascript: URI cannot be a redirect URI"),
        ("JaVaScRiPt:alert(1)", "a javascript: URI cannot be a redirect URI"),
        ("data:text/html,<script>alert(1)</script>", "a data: URI cannot be a redirect URI"),
        ("https://partner.example/cb\r\nSet-Cookie: x=1", "contains whitespace, control or non-ASCII"),
        ("https://partner.example/c b", "contains whitespace, control or non-ASCII"),
        ("https://partner.example/café", "contains whitespace, control or non-ASCII"),
        ("/wise/callback", "is not an absolute URI"),
        ("https:///callback", "names no host"),
        ("https://partner.example/cb#top", "has a fragment"),
    ],
    ids=[
        "empty",
        "javascript",
        "mixed case",
        "data",
        "crlf",
        "space",
        "non-ascii",
        "relative",
        "no host",
        "fragment",
    ],
)
def test_a_redirect_uri_that_is_not_one_is_refused(
    api: httpx.Client, tenant: Tenant, uri: str, message: str
) -> None:
    answer = api.post(f"{C}/tenants/{tenant.id}/clients", json={"client_id": "app", "redirect_uris": [uri]})
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_request" and message in answer.json()["message"]
    assert "app" not in tenant.directory.clients
    with pytest.raises(ValueError, match=re.escape(message)):
        tenant.add_client("app", redirect_uris=[uri])


@pytest.mark.parametrize(
    "uri",
    [
        "https://partner.example/wise/callback?tenant=eu",
        "http://localhost:8080/wise/callback",
        "http://127.0.0.1:3000/cb",
        "myapp://oauth/callback",  # a mobile app's deep link (Wise linking-accounts page)
        "com.partner.app:/oauth2redirect",  # reverse-domain scheme, as Android apps register
    ],
)
def test_web_and_app_redirect_uris_are_accepted(api: httpx.Client, tenant: Tenant, uri: str) -> None:
    answer = api.post(f"{C}/tenants/{tenant.id}/clients", json={"client_id": "app", "redirect_uris": [uri]})
    assert answer.status_code == 201 and tenant.directory.client("app").redirect_uris == (uri,)


@pytest.mark.parametrize(
    "email",
    [
        "<script>alert(1)</script>@x.com",
        '"quoted"@x.com',
        "a b@x.com",
        "a@b",
        "a@@b.com",
        "a@b.com\n",
        "@x.com",
    ],
)
def test_an_email_that_is_not_one_is_refused(api: httpx.Client, tenant: Tenant, email: str) -> None:
    answer = api.post(f"{C}/tenants/{tenant.id}/users", json={"email": email, "password": "pw-12345678"})
    assert answer.status_code == 400
    assert answer.json() == {
        "error": "invalid_request",
        "message": f"{email!r} is not an e-mail address (like name@example.com)",
    }
    assert tenant.directory.by_email(email) is None
    with pytest.raises(ValueError, match="is not an e-mail address"):
        tenant.add_user(email)
    user = next(iter(tenant.directory.users.values()))
    scenario = api.post(
        f"{C}/tenants/{tenant.id}/scenarios/change_email", json={"user": user.id, "email": email}
    )
    assert scenario.status_code == 400 and user.email != email


def test_sign_up_over_the_api_answers_wises_422_for_the_same_emails(
    api: httpx.Client, creds: Credentials
) -> None:
    client = creds.clients[0]
    token = api.post(
        "/oauth/token",
        auth=(client["client_id"], client["client_secret"]),
        data={"grant_type": "client_credentials"},
    ).json()["access_token"]
    email = "<script>alert(1)</script>@x.com"
    answer = api.post(
        "/v1/user/signup/registration_code",
        json={"email": email, "registrationCode": "c" * 32},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 422  # [C] §4: "Please provide a valid email"
    assert answer.json()["errors"][0]["message"] == "Please provide a valid email"


@pytest.mark.parametrize("email", ["new.user@domain.com", "a_b+tag@ex-ample.co.uk", "jörg@bücher.de"])
def test_real_emails_are_accepted(api: httpx.Client, tenant: Tenant, email: str) -> None:
    answer = api.post(f"{C}/tenants/{tenant.id}/users", json={"email": email})
    assert answer.status_code == 201 and answer.json()["email"] == email


# What the fuzz found once the document was exact (issue 15 item 10) ----------------------------


def test_a_profile_takes_only_its_own_fields_each_of_its_kind(api: httpx.Client, tenant: Tenant) -> None:
    user_id = next(iter(tenant.directory.users))
    profiles = f"{C}/tenants/{tenant.id}/users/{user_id}/profiles"
    for spec, message in [
        ({"created_at": "yesterday"}, "unknown profile field 'created_at'"),  # was stored, then a 500
        ({"id": 7}, "unknown profile field 'id'"),
        ({"first_name": ["Ada"]}, "profile field 'first_name' is a string"),
        ({"address": {"city": 5}}, "an address's fields are strings"),
        ({"balances": [{"currency": "euro"}]}, "a balance's currency is a 3-letter code"),
    ]:
        answer = api.post(profiles, json=spec)
        assert answer.status_code == 400 and message in answer.json()["message"], (spec, answer.text)
    assert api.get(f"{C}/tenants/{tenant.id}").status_code == 200  # and the tenant still renders


def test_a_user_with_a_bad_profile_is_not_made_at_all(api: httpx.Client, tenant: Tenant) -> None:
    answer = api.post(
        f"{C}/tenants/{tenant.id}/users", json={"email": "half@example.com", "profiles": [{"colour": "red"}]}
    )
    assert answer.status_code == 400 and tenant.directory.by_email("half@example.com") is None


def test_a_taken_client_id_or_email_is_a_409(api: httpx.Client, sandbox: Sandbox, tenant: Tenant) -> None:
    other, _ = sandbox.create_tenant()
    taken_elsewhere = next(iter(other.directory.clients))
    for body in ({"client_id": next(iter(tenant.directory.clients))}, {"client_id": taken_elsewhere}):
        answer = api.post(f"{C}/tenants/{tenant.id}/clients", json=body)
        assert answer.status_code == 409 and answer.json()["error"] == "conflict"
    email = next(iter(tenant.directory.users.values())).email
    assert api.post(f"{C}/tenants/{tenant.id}/users", json={"email": email}).status_code == 409


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("clients", {"client_id": "x", "mtls_enforced": None}, "'mtls_enforced' cannot be null"),
        ("clock/set", {"at": False}, "'at' must be str or int or float"),
        ("clock/advance", {"seconds": True}, "'seconds' must be int or float"),
        ("faults", {"kind": "delay", "seed": None}, "'seed' cannot be null"),
    ],
)
def test_json_types_are_taken_as_json_has_them(
    api: httpx.Client, tenant: Tenant, path: str, body: dict[str, object], message: str
) -> None:
    """null is not a value unless a field says so, and false is not 0 (to Python it is)."""
    answer = api.post(f"{C}/tenants/{tenant.id}/{path}", json=body)
    assert answer.status_code == 400 and answer.json()["message"] == message


def test_a_whole_number_written_as_a_float_is_a_number(api: httpx.Client, tenant: Tenant) -> None:
    settings = api.patch(f"{C}/tenants/{tenant.id}/settings", json={"rate_limits.per_second": 5.0})
    assert settings.status_code == 200 and tenant.settings.rate_limits.per_second == 5
    journal = api.patch(f"{C}/tenants/{tenant.id}/journal", json={"capacity": 100.0})
    assert journal.status_code == 200 and tenant.journal.capacity == 100


@pytest.mark.parametrize("listing", ["tokens", "certificates"])
def test_an_unknown_state_filter_is_a_400(api: httpx.Client, tenant: Tenant, listing: str) -> None:
    answer = api.get(f"{C}/tenants/{tenant.id}/{listing}", params={"state": "bogus"})
    assert answer.status_code == 400 and answer.json()["message"].startswith("'state' is one of ")


def test_an_empty_tenant_id_is_refused_not_replaced(api: httpx.Client) -> None:
    answer = api.post(f"{C}/tenants", json={"id": ""})
    assert answer.status_code == 400 and "a tenant id is 1-64" in answer.json()["message"]


@pytest.mark.parametrize("country", ["", "G", "GBR", "1A"])
def test_a_country_is_a_two_letter_code(api: httpx.Client, tenant: Tenant, country: str) -> None:
    answer = api.post(f"{C}/tenants/{tenant.id}/users", json={"email": "c@example.com", "country": country})
    assert answer.status_code == 400 and "ISO 3166-1 alpha-2" in answer.json()["message"]
