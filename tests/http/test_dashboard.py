"""The dashboard and the control plane's listings over HTTP: bounded whatever the state (issue 15
item 4), escaped, without inline scripts; the try-it page's document is valid OpenAPI 3.0.
The browser tests (`tests/browser/test_dashboard_browser.py`) drive the same pages in chromium."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate

from mockwise._domain.sandbox import Sandbox
from mockwise._domain.tenant import Tenant
from mockwise._http.app import create_app
from mockwise._http.control.dashboard.pages import CSP
from mockwise._transport.inprocess import SyncASGITransport
from mockwise.testing._client import SandboxClient

C = "/_mockwise"
TOKENS = 5_000


@pytest.fixture(scope="module")
def big() -> tuple[Sandbox, Tenant]:
    """A tenant holding 5,000 client-credentials tokens and a full page's worth of journal."""
    sandbox = Sandbox()
    tenant, creds = sandbox.create_tenant("big")
    client = tenant.client(creds.clients[0]["client_id"])
    for _ in range(TOKENS):
        tenant.tokens.client_credentials(client)
    return sandbox, tenant


@pytest.fixture
def big_api(big: tuple[Sandbox, Tenant]) -> httpx.Client:
    return httpx.Client(transport=SyncASGITransport(create_app(big[0])), base_url="http://t")


def test_a_listing_of_5000_tokens_is_one_page_and_a_count(big_api: httpx.Client) -> None:
    held = TOKENS + 2  # and the seed's two personal tokens
    answer = big_api.get(f"{C}/tenants/big/tokens")
    assert answer.status_code == 200 and len(answer.content) < 100_000
    page = answer.json()
    assert len(page["tokens"]) == 100 and page["total"] == held and page["counts"]["valid"] == held
    assert page["next"] == f"{C}/tenants/big/tokens?offset=100&limit=100"
    newest = page["tokens"][0]["issued_at"]
    assert all(t["issued_at"] <= newest for t in page["tokens"])  # newest first
    following = big_api.get(page["next"]).json()
    assert {t["id"] for t in following["tokens"]}.isdisjoint(t["id"] for t in page["tokens"])
    last = big_api.get(f"{C}/tenants/big/tokens", params={"offset": held - 3, "limit": 1000}).json()
    assert len(last["tokens"]) == 3 and last["next"] is None
    most = big_api.get(f"{C}/tenants/big/tokens", params={"limit": 1000}).json()
    assert len(most["tokens"]) == 1000
    for bad in ({"limit": 0}, {"limit": 1001}, {"offset": -1}, {"limit": "x"}, {"state": "sleepy"}):
        assert big_api.get(f"{C}/tenants/big/tokens", params=bad).status_code == 400


def test_the_python_client_follows_every_page(big: tuple[Sandbox, Tenant]) -> None:
    transport = SyncASGITransport(create_app(big[0]))
    with SandboxClient("http://t", transport=transport) as control:
        tokens = control.tenant("big").tokens(state="valid")
    assert len(tokens) == TOKENS + 2 and len({t["id"] for t in tokens}) == len(tokens)


def test_the_dashboard_of_a_big_tenant_stays_small(big_api: httpx.Client) -> None:
    for path in ("", "/tokens", "/tokens?state=valid", "/journal", "/settings"):
        page = big_api.get(f"{C}/tenants/big/dashboard{path}")
        assert page.status_code == 200 and len(page.content) < 200_000, path
    overview = big_api.get(f"{C}/tenants/big/dashboard").text
    assert "newest 20 of 5002" in overview
    tokens = big_api.get(f"{C}/tenants/big/dashboard/tokens").text
    assert tokens.count('href="/_mockwise/tenants/big/dashboard/tokens/') == 50
    assert "offset=50" in tokens  # the pager leads on


def test_the_journal_pages_newest_first_and_follows_with_since(api: httpx.Client) -> None:
    created = api.post(f"{C}/tenants", json={"id": "j"}).json()
    client = created["clients"][0]
    for _ in range(7):
        api.post(
            "/oauth/token", auth=(client["client_id"], "wrong"), data={"grant_type": "client_credentials"}
        )
    newest = api.get(f"{C}/tenants/j/journal", params={"limit": 3}).json()
    assert [e["seq"] for e in newest["entries"]] == [7, 6, 5] and newest["total"] == 7
    older = api.get(newest["next"]).json()
    assert [e["seq"] for e in older["entries"]] == [4, 3, 2]
    assert [e["seq"] for e in api.get(older["next"]).json()["entries"]] == [1]
    tail = api.get(f"{C}/tenants/j/journal", params={"since": 0, "limit": 4}).json()
    assert [e["seq"] for e in tail["entries"]] == [1, 2, 3, 4] and "since=4" in tail["next"]
    rest = api.get(tail["next"]).json()
    assert [e["seq"] for e in rest["entries"]] == [5, 6, 7] and rest["next"] is None
    assert api.get(f"{C}/tenants/j/journal", params={"since": 1, "before": 5}).status_code == 400
    assert api.get(f"{C}/tenants/j/journal", params={"limit": 5000}).status_code == 400
    assert all(e["headers"] for e in tail["entries"])  # header names, never values
    assert "authorization" in tail["entries"][0]["headers"]


def test_tenants_list_pages_newest_first(api: httpx.Client) -> None:
    for n in range(5):
        api.post(f"{C}/tenants", json={"id": f"t{n}", "seed": False})
    page = api.get(f"{C}/tenants", params={"limit": 2}).json()
    assert [t["id"] for t in page["tenants"]] == ["t4", "t3"] and page["total"] == 5
    assert [t["id"] for t in api.get(page["next"]).json()["tenants"]] == ["t2", "t1"]
    index = api.get(f"{C}/", params={"limit": 2}).text
    assert "t4" in index and "t2" not in index and "offset=2" in index


def test_pages_escape_what_they_reflect_and_hold_no_inline_script(api: httpx.Client) -> None:
    api.post(f"{C}/tenants", json={"id": "x", "seed": False})
    evil = "<script>alert(1)</script>"
    assert api.post(f"{C}/tenants/x/clients", json={"client_id": "evil", "name": evil}).status_code == 201
    api.post("/oauth/token", auth=("evil", "nope"), data={"grant_type": evil})
    pages = ["/", "/docs", "/docs/try"] + [
        f"/tenants/x/dashboard{p}"
        for p in ("", "/journal", "/journal/1", "/tokens", "/mailbox", "/certificates", "/sca")
    ]
    pages += ["/tenants/x/dashboard/rate-limits", "/tenants/x/dashboard/settings"]
    pages += [f"/tenants/x/dashboard/journal?path={evil}", f"/tenants/x/dashboard/tokens?state={evil}"]
    for path in pages:
        page = api.get(C + path)
        assert evil not in page.text, path
        if page.headers["content-type"].startswith("text/html"):
            assert page.headers["content-security-policy"] == CSP, path
            assert re.search(r"<script(?![^>]*\bsrc=)", page.text) is None, path  # only <script src>
            assert " style=" not in page.text, path  # the CSP allows no inline style either
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in api.get(f"{C}/tenants/x/dashboard").text


def test_empty_tables_say_so(api: httpx.Client) -> None:
    api.post(f"{C}/tenants", json={"id": "e", "seed": False})
    overview = api.get(f"{C}/tenants/e/dashboard").text
    for text in ("No clients.", "No users.", "No live tokens.", "No faults armed.", "No requests yet."):
        assert text in overview
    assert "No tokens." in api.get(f"{C}/tenants/e/dashboard/tokens").text
    assert "The mailbox is empty." in api.get(f"{C}/tenants/e/dashboard/mailbox").text
    assert api.get(f"{C}/tenants/e/dashboard/journal/99").status_code == 404
    assert api.get(f"{C}/tenants/e/dashboard/tokens/0123456789abcdef").status_code == 404


def test_the_try_it_document_is_valid_openapi_30(api: httpx.Client) -> None:
    document: dict[str, Any] = api.get(f"{C}/openapi-3.0.json").json()
    assert document["openapi"] == "3.0.3"
    validate(document)
    full = api.get(f"{C}/openapi.json").json()
    assert set(document["paths"]) == set(full["paths"])
    assert api.get(f"{C}/static/swagger-ui/swagger-ui-bundle.js").status_code == 200
    assert api.get(f"{C}/static/control/dashboard.js").status_code == 200


def test_an_empty_state_is_all_and_an_unknown_page_parameter_is_refused(big_api: httpx.Client) -> None:
    # a filter form's "all" sends `state=`: every listing of states takes it as none
    everything = big_api.get(f"{C}/tenants/big/tokens").json()["total"]
    assert big_api.get(f"{C}/tenants/big/tokens", params={"state": ""}).json()["total"] == everything
    assert big_api.get(f"{C}/tenants/big/dashboard/tokens", params={"state": ""}).status_code == 200
    certificates = big_api.get(f"{C}/tenants/big/certificates", params={"state": ""})
    assert certificates.status_code == 200, certificates.text
    # a mistyped filter on a page is a 400 that names it, never a page of everything
    for page, params in (
        ("dashboard/journal", {"stauts": "401"}),
        ("dashboard/journal", {"status": "401", "before": "9", "extra": "1"}),
        ("dashboard/tokens", {"sate": "valid"}),
    ):
        answer = big_api.get(f"{C}/tenants/big/{page}", params=params)
        assert answer.status_code == 400 and "unknown parameter" in answer.text, (page, params)
    # but every link a page draws is one it takes: the tokens page's next page carries its limit
    page = big_api.get(f"{C}/tenants/big/dashboard/tokens", params={"state": "valid"}).text
    (following,) = set(re.findall(r'href="([^"]*dashboard/tokens\?[^"]*offset=[^"]*)"', page))
    assert big_api.get(following.replace("&amp;", "&")).status_code == 200, following
    doubled = big_api.get(f"{C}/tenants/big/dashboard/journal?status=abc&status=")
    assert doubled.status_code == 400 and "more than once" in doubled.text
    assert big_api.get(f"{C}/tenants/big/dashboard/journal", params={"status": "200"}).status_code == 200
