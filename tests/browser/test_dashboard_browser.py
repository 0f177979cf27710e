"""The dashboard in a real browser (Debian's chromium via Playwright): every page renders without a
script error or a CSP violation, its links lead where they say, and its buttons and forms act
through the control plane. Each page leaves a screenshot in `test-artifacts/dashboard/`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from mockwise._domain.sandbox import Sandbox
from mockwise._domain.tenant import Tenant
from tests.browser.conftest import ARTIFACTS

SHOTS = ARTIFACTS / "dashboard"
C = "/_mockwise"


@pytest.fixture
def busy(server: tuple[Sandbox, str], request: pytest.FixtureRequest) -> Iterator[Tenant]:
    """A tenant with history: client-credentials tokens, a user link refreshed once, a refusal, a
    fault that fired, and a mail in the mailbox."""
    sandbox, url = server
    name = "".join(c if c.isalnum() else "-" for c in request.node.name)[:40]
    tenant, creds = sandbox.create_tenant(f"b-{name}")
    client = creds.clients[0]
    auth = (client["client_id"], client["client_secret"])
    token = f"{url}/oauth/token"
    for _ in range(3):
        requests.post(token, auth=auth, data={"grant_type": "client_credentials"}, timeout=10)
    user = creds.users[2]
    grant = {"grant_type": "registration_code", "email": user["email"]}
    grant["registration_code"] = user["registration_code"]
    linked = requests.post(token, auth=auth, data=grant, timeout=10).json()
    refresh = {"grant_type": "refresh_token", "refresh_token": linked["refresh_token"]}
    renewed = requests.post(token, auth=auth, data=refresh, timeout=10).json()
    requests.get(f"{url}/v1/me", headers={"Authorization": "Bearer not-a-token"}, timeout=10)
    tenant.faults.add("server_error", path="/v1/me")
    requests.get(f"{url}/v1/me", headers={"Authorization": f"Bearer {renewed['access_token']}"}, timeout=10)
    existing = {"email": creds.users[0]["email"], "registrationCode": "x" * 40}
    existing["sendAuthorizationCodeAsEmail"] = True  # a known e-mail: Wise mails the user a link
    cc = requests.post(token, auth=auth, data={"grant_type": "client_credentials"}, timeout=10).json()
    requests.post(
        f"{url}/v1/user/signup/registration_code",
        json=existing,
        headers={"Authorization": f"Bearer {cc['access_token']}"},
        timeout=10,
    )
    yield tenant
    sandbox.delete_tenant(tenant.id)


@pytest.fixture
def problems() -> list[str]:
    """What went wrong in the page: script errors, console errors, CSP violations."""
    return []


@pytest.fixture
def watched(page: Any, problems: list[str]) -> Iterator[Any]:
    """The page, failing the test on any script error, console error or CSP violation."""
    page.on("console", lambda m: problems.append(f"{m.text} {m.location}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    yield page
    assert problems == []


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def base(server: tuple[Sandbox, str], tenant: Tenant) -> str:
    return f"{server[1]}{C}/tenants/{tenant.id}/dashboard"


def test_the_tenants_page_lists_tenants_and_links_to_each(
    watched: Any, server: tuple[Sandbox, str], busy: Tenant
) -> None:
    watched.goto(f"{server[1]}{C}/")
    watched.get_by_role("heading", name="Tenants").wait_for()
    shot(watched, "index")
    watched.get_by_role("link", name=busy.id, exact=True).click()
    watched.get_by_role("heading", name=f"Tenant {busy.id}").wait_for()


def test_the_tenant_page_shows_state_and_navigates_everywhere(
    watched: Any, server: tuple[Sandbox, str], busy: Tenant
) -> None:
    watched.goto(base(server, busy))
    assert "ended: refreshed" in watched.content()  # the lineage timeline
    assert watched.get_by_text("No faults armed.").count() == 0
    shot(watched, "tenant")
    tabs = watched.get_by_role("navigation", name="Tenant pages")
    pages = {
        "Journal": "Journal",
        "Tokens": "Tokens",
        "Mailbox": "Sandbox mailbox",
        "Certificates": "Client certificates and mTLS",
        "SCA": "Strong customer authentication",
        "Rate limits": "Rate limits",
        "Settings": "Settings",
    }
    for tab, heading in pages.items():
        tabs.get_by_role("link", name=tab, exact=True).click()
        watched.get_by_role("heading", name=heading).first.wait_for()
        assert tabs.get_by_role("link", name=tab, exact=True).get_attribute("aria-current") == "page"
        shot(watched, f"tenant-{tab.lower().replace(' ', '-')}")
    assert watched.locator("[id='oauth.refresh_token_rotation']").count() == 1  # settings, by key
    assert "Whether a refresh returns a new refresh token" in watched.content()  # with their docs


def test_a_journal_entry_opens_to_its_detail(watched: Any, server: tuple[Sandbox, str], busy: Tenant) -> None:
    watched.goto(f"{base(server, busy)}/journal")
    shot(watched, "journal")
    refresh = watched.locator("tr", has_text="refresh_token").first
    refresh.get_by_role("link", name="POST /oauth/token").click()
    watched.get_by_role("heading", name="Journal entry").wait_for()
    text = watched.content()
    assert "grant_type" in text and "refresh_token" in text  # the form parameter names
    assert "authorization" in text and "content-type" in text  # the header names
    assert "HTTP Basic" in text or "none (or not Basic)" in text
    assert "ms" in watched.locator("tr", has_text="Took").inner_text()  # the timings
    assert "ended: refreshed" in text  # the lineage of the token presented
    shot(watched, "journal-entry")
    watched.goto(f"{base(server, busy)}/journal?status=500")
    watched.locator("tbody a", has_text="GET /v1/me").first.click()
    assert "server_error#" in watched.locator("tr", has_text="Fault").inner_text()
    shot(watched, "journal-entry-fault")
    watched.goto(f"{base(server, busy)}/journal?path=/nowhere")
    assert watched.get_by_text("No entries match these filters.").is_visible()  # empty tables say so


def test_tokens_page_and_a_token_with_its_lineage(
    watched: Any, server: tuple[Sandbox, str], busy: Tenant
) -> None:
    watched.goto(f"{base(server, busy)}/tokens?state=superseded")
    shot(watched, "tokens")
    watched.locator("tbody a.mono").first.click()
    watched.get_by_role("heading", name="Lineage").wait_for()
    assert "refreshed" in watched.content()
    shot(watched, "token")
    watched.goto(f"{base(server, busy)}/tokens?state=revoked")
    assert watched.get_by_text("No revoked tokens.").is_visible()


def test_faults_are_armed_and_disarmed_from_the_page(
    watched: Any, server: tuple[Sandbox, str], busy: Tenant
) -> None:
    busy.faults.clear()
    watched.goto(base(server, busy))
    assert watched.get_by_text("No faults armed.").is_visible()
    form = watched.locator("#arm-fault")
    form.get_by_label("Kind").select_option("rate_limited")
    form.get_by_label("Path").fill("/oauth/token")
    form.get_by_label("Times").fill("2")
    form.get_by_label("Retry-After").fill("7")
    form.get_by_role("button", name="Arm fault").click()
    watched.locator("#status.ok").wait_for()
    (fault,) = list(busy.faults)
    assert (fault.kind.value, fault.path, fault.times, fault.retry_after) == (
        "rate_limited",
        "/oauth/token",
        2,
        7,
    )
    assert "armed" in watched.locator("#status").inner_text()
    shot(watched, "fault-armed")
    watched.get_by_role("button", name=f"Disarm {fault.label}").click()
    watched.get_by_text("No faults armed.").wait_for()
    assert list(busy.faults) == []


def test_the_clock_is_set_to_any_instant_and_advanced(
    watched: Any, server: tuple[Sandbox, str], busy: Tenant
) -> None:
    watched.goto(base(server, busy))
    watched.get_by_label("Set to").fill("2031-02-03T04:05:06")
    watched.get_by_role("button", name="Set clock").click()
    watched.locator("#status.ok").wait_for()
    assert watched.locator("#clock-now").inner_text().startswith("2031-02-03T04:05")
    assert abs(busy.clock.now() - datetime(2031, 2, 3, 4, 5, 6, tzinfo=UTC).timestamp()) < 60
    watched.get_by_role("button", name="Freeze").click()
    watched.get_by_role("button", name="Unfreeze").wait_for()
    before = busy.clock.now()
    watched.get_by_role("button", name="+12 hours").click()
    watched.locator("#status.ok").wait_for()
    assert busy.clock.now() - before == pytest.approx(43200, abs=1)
    shot(watched, "clock")


def test_scenarios_come_from_the_registry_and_run_from_the_page(
    watched: Any, server: tuple[Sandbox, str], busy: Tenant, problems: list[str]
) -> None:
    from mockwise._domain.scenarios import SCENARIOS

    watched.goto(base(server, busy))
    for name in SCENARIOS:
        assert watched.get_by_role("button", name=f"Trigger {name}").count() == 1
    user = busy.user(busy.directory.users[max(busy.directory.users)].id)
    live = [t for t in busy.live_tokens() if t.user_id is not None and t.user_id == user.id]
    assert live
    form = watched.locator("#scenario-revoke_access")
    form.get_by_label("user").fill(user.email)
    form.get_by_role("button", name="Trigger revoke_access").click()
    watched.locator("#status.ok").wait_for()
    assert "token(s) ended" in watched.locator("#status").inner_text()
    assert all(t.state(busy.clock.now()).value == "revoked" for t in live)
    # a refusal is shown, and the page stays
    form = watched.locator("#scenario-breach")
    form.get_by_label("client_id").fill("no-such-client")
    form.get_by_role("button", name="Trigger breach").click()
    watched.locator("#status.bad").wait_for()
    assert "404" in watched.locator("#status").inner_text()
    assert len(problems) == 1 and "404" in problems[0]  # the browser notes the refusal: expected
    problems.clear()
    shot(watched, "scenario")


def test_settings_sca_and_mtls_change_from_their_pages(
    watched: Any, server: tuple[Sandbox, str], busy: Tenant
) -> None:
    watched.goto(f"{base(server, busy)}/settings")
    row = watched.locator("[id='oauth.refresh_token_rotation']")
    row.get_by_label("oauth.refresh_token_rotation").select_option("true")
    row.get_by_role("button", name="Save").click()
    watched.locator("#status.ok").wait_for()
    assert busy.settings.oauth.refresh_token_rotation is True
    row = watched.locator("[id='sca.pin']")
    row.get_by_label("sca.pin").fill("9876")
    row.get_by_role("button", name="Save").click()
    watched.locator("#status.ok").wait_for()
    assert busy.settings.sca.pin == "9876"
    shot(watched, "settings-changed")

    watched.goto(f"{base(server, busy)}/sca")
    first = min(busy.directory.users)
    watched.get_by_label(f"SCA for user {first}").select_option("true")
    watched.locator("tr", has_text=busy.directory.users[first].email).get_by_role(
        "button", name="Save"
    ).click()
    watched.locator("#status.ok").wait_for()
    assert busy.sca.overrides().get(first) is True

    watched.goto(f"{base(server, busy)}/certificates")
    client_id = next(iter(busy.directory.clients))
    enforced = busy.client(client_id).mtls_enforced
    action = "Stop enforcing" if enforced else "Enforce"
    watched.get_by_role("button", name=f"{action} mTLS for {client_id}").click()
    watched.locator("#status.ok").wait_for()
    assert busy.client(client_id).mtls_enforced is not enforced
    shot(watched, "certificates-enforced")


def test_the_mailbox_page_lists_mail_with_its_link(
    watched: Any, server: tuple[Sandbox, str], busy: Tenant
) -> None:
    watched.goto(f"{base(server, busy)}/mailbox")
    link = watched.get_by_role("link", name="follow the link").first
    assert "/oauth/authorize" in (link.get_attribute("href") or "")
    shot(watched, "mailbox")
    watched.get_by_role("button", name="Empty the mailbox").click()
    watched.get_by_text("The mailbox is empty.").wait_for()


def test_the_try_it_page_runs_an_operation_offline(
    watched: Any, server: tuple[Sandbox, str], busy: Tenant
) -> None:
    outside: list[str] = []
    watched.on("request", lambda r: outside.append(r.url) if not r.url.startswith(server[1]) else None)
    watched.goto(f"{server[1]}{C}/docs")
    watched.get_by_role("link", name="Try an operation").click()
    path = watched.locator(".opblock-summary-path[data-path='/_mockwise/tenants/{tenant}/clock']")
    operation = watched.locator(".opblock.opblock-get", has=path)
    operation.wait_for()
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.locator("input[placeholder='tenant']").fill(busy.id)
    operation.get_by_role("button", name="Execute").click()
    response = operation.locator(".live-responses-table tbody .response-col_status").first
    response.wait_for()
    assert response.inner_text().strip().startswith("200")
    assert '"frozen"' in operation.locator(".live-responses-table .microlight").first.inner_text()
    shot(watched, "try-it")
    assert outside == []  # no CDN: every asset came from the sandbox
