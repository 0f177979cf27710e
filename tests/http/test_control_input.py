"""Bad input to the control plane gets a 400 with its error body, never a 500 (issue 15 items 5
and 9): JSON nested past any real document, and values the domain refuses (client ids Basic
cannot carry, redirect URIs that are not URIs, e-mails that are not e-mails)."""

from __future__ import annotations

import re

import httpx
import pytest

from mockwise.domain.sandbox import Sandbox
from mockwise.domain.scenarios import SCENARIOS
from mockwise.domain.seed import Credentials
from mockwise.domain.tenant import Tenant
from mockwise.http.app import create_app
from mockwise.http.forms import MAX_JSON_DEPTH
from mockwise.http.openapi import openapi_document

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
    }
    return re.sub(r"{(\w+)}", lambda m: values[m.group(1)], path)


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
