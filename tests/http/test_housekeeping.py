"""The control plane's memory bounds: the journal's capacity per tenant, and collecting tokens."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from mockwise._domain.sandbox import Sandbox
from mockwise._domain.settings import ACCESS_TOKEN_LIFETIME

C = "/_mockwise/tenants"


@pytest.fixture
def doc(api: httpx.Client) -> dict[str, Any]:
    response = api.post(C, json={"id": "acme"})
    assert response.status_code == 201, response.text
    return dict(response.json())


def get_token(api: httpx.Client, doc: dict[str, Any]) -> httpx.Response:
    client = doc["clients"][0]
    return api.post(
        "/oauth/token",
        auth=(client["client_id"], client["client_secret"]),
        data={"grant_type": "client_credentials"},
    )


def test_journal_capacity_caps_the_journal_and_marks_what_was_dropped(
    api: httpx.Client, doc: dict[str, Any]
) -> None:
    for _ in range(4):
        get_token(api, doc)
    answer = api.patch(f"{C}/acme/journal", json={"capacity": 2})
    assert answer.status_code == 200
    assert answer.json() == {"capacity": 2, "entries": 2, "dropped": 2}
    get_token(api, doc)
    journal = api.get(f"{C}/acme/journal", params={"since": 0}).json()
    assert journal["capacity"] == 2 and journal["dropped"] == 3
    assert [e["seq"] for e in journal["entries"]] == [4, 5]  # numbering goes on: the gap shows
    # the tenant page says so too
    assert "3 older dropped" in api.get(f"{C}/acme/dashboard").text


@pytest.mark.parametrize(
    "body",
    [{}, {"capacity": -1}, {"capacity": "10"}, {"capacity": 1.5}, {"capacity": True}, {"capacity": 10**9}],
)
def test_journal_capacity_errors(api: httpx.Client, doc: dict[str, Any], body: dict[str, Any]) -> None:
    answer = api.patch(f"{C}/acme/journal", json=body)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"


def test_journal_capacity_of_an_unknown_tenant(api: httpx.Client) -> None:
    answer = api.patch(f"{C}/nope/journal", json={"capacity": 5})
    assert answer.status_code == 404 and answer.json()["error"] == "not_found"


def test_collect_forgets_long_expired_tokens(
    api: httpx.Client, doc: dict[str, Any], sandbox: Sandbox
) -> None:
    tenant = sandbox.tenant("acme")
    for _ in range(3):
        assert get_token(api, doc).status_code == 200
    held = len(tenant.store)
    assert api.post(f"{C}/acme/collect").json() == {"collected": 0, "tokens": held}
    tenant.clock.advance(ACCESS_TOKEN_LIFETIME + tenant.settings.oauth.expired_token_memory + 1)
    assert api.post(f"{C}/acme/collect").json() == {"collected": 3, "tokens": held - 3}
