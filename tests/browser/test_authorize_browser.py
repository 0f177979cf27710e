"""The authorize page in a real browser (Debian's chromium via Playwright), against mockwise on a
real socket and the test's own callback server (reference §3, Wise linking-accounts page)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
import requests

from mockwise._domain.sandbox import Sandbox
from mockwise._domain.tenant import Tenant
from tests.browser.conftest import Callback
from tests.linking import ALEX, LENA, PASSWORD


def authorize(server: tuple[Sandbox, str], callback: Callback, **extra: str) -> str:
    """The authorize URL for the callback's client (the `linked_tenant` fixture registers it)."""
    assert callback.client is not None
    query = {"client_id": callback.client.client_id, "redirect_uri": callback.url, **extra}
    return f"{server[1]}/oauth/authorize/?{urlencode(query)}"


def log_in(page: Any, email: str = ALEX, otp: str | None = "111111") -> None:
    page.get_by_label("Your e-mail address").fill(email)
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    if otp is not None:
        page.get_by_label("Verification code").fill(otp)
        page.get_by_role("button", name="Verify").click()


def test_link_a_user_login_2fa_profile_choice_and_approve(
    page: Any, server: tuple[Sandbox, str], linked_tenant: Tenant, callback: Callback
) -> None:
    page.goto(authorize(server, callback, state="browser-state-1"))
    assert page.evaluate("document.activeElement.id") == "email"  # focus starts on the first field
    log_in(page)

    page.get_by_role("heading", name="Choose a profile").wait_for()
    page.get_by_label("Morgan Analytics Inc.").check()
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("heading", name="Connect Browser Test Bank to your Wise account?").wait_for()
    page.get_by_role("button", name="Approve").click()

    page.wait_for_url(callback.url + "?**")
    assert page.locator("#result").inner_text() == f"Linked {ALEX}"
    (received,) = callback.received
    business = linked_tenant.user(ALEX).profiles[1]
    assert list(received) == ["code", "state", "profileId"]
    assert received["state"] == "browser-state-1" and received["profileId"] == str(business)
    assert callback.tokens is not None and callback.tokens["expires_in"] == 43199
    assert callback.me is not None and callback.me["email"] == ALEX
    access = callback.tokens["access_token"]
    bound = requests.get(
        f"{server[1]}/v2/profiles/{business}", headers={"Authorization": f"Bearer {access}"}, timeout=10
    )
    assert bound.status_code == 200


@pytest.mark.parametrize("page", [False], indirect=True, ids=["no-javascript"])
def test_the_pages_work_without_javascript(
    page: Any, server: tuple[Sandbox, str], linked_tenant: Tenant, callback: Callback
) -> None:
    page.goto(authorize(server, callback, state="no-js"))
    log_in(page, LENA)  # one profile: straight to consent
    page.get_by_role("button", name="Approve").click()
    page.wait_for_url(callback.url + "?**")
    assert callback.received[0]["state"] == "no-js" and callback.me is not None
    assert callback.me["email"] == LENA


def test_deny_goes_back_with_access_denied(
    page: Any, server: tuple[Sandbox, str], linked_tenant: Tenant, callback: Callback
) -> None:
    page.goto(authorize(server, callback, state="deny-me"))
    log_in(page, LENA)
    page.get_by_role("button", name="Deny").click()
    page.wait_for_url(callback.url + "?**")
    assert callback.received == [
        {"error": "access_denied", "error_description": "User denied access", "state": "deny-me"}
    ]
    assert page.locator("#result").inner_text() == "Not linked: access_denied"


def test_wrong_2fa_codes_and_the_lockout_ending_on_the_tenant_clock(
    page: Any, server: tuple[Sandbox, str], linked_tenant: Tenant, callback: Callback
) -> None:
    linked_tenant.clock.freeze()
    page.goto(authorize(server, callback))
    log_in(page, otp=None)
    code = page.get_by_label("Verification code")
    for left in (4, 3, 2, 1):
        code.fill("123456")
        page.get_by_role("button", name="Verify").click()
        assert page.get_by_text(f"That code is wrong. You have {left} more").is_visible()
        assert code.get_attribute("aria-invalid") == "true"
        assert code.get_attribute("aria-describedby") == "otp-hint otp-error"
    code.fill("654321")
    page.get_by_role("button", name="Verify").click()
    assert page.get_by_text("try again in 15 minutes").is_visible()
    code.fill("111111")
    page.get_by_role("button", name="Verify").click()
    assert page.get_by_text("try again in 15 minutes").is_visible()  # locked, even with the right code

    linked_tenant.clock.advance(15 * 60)
    code.fill("111111")
    page.get_by_role("button", name="Verify").click()
    page.get_by_role("heading", name="Choose a profile").wait_for()
    assert callback.received == []


def test_an_unregistered_redirect_uri_shows_the_error_page(
    page: Any, server: tuple[Sandbox, str], linked_tenant: Tenant, callback: Callback
) -> None:
    assert callback.client is not None
    query = urlencode({"client_id": callback.client.client_id, "redirect_uri": callback.url + "?evil=1"})
    response = page.goto(f"{server[1]}/oauth/authorize/?{query}")
    assert response.status == 400
    page.get_by_role("heading", name="We can't continue with this link").wait_for()
    assert page.url.startswith(server[1]) and callback.received == []
    assert page.locator("form").count() == 0


def test_a_state_with_html_is_escaped_on_the_page_and_exact_in_the_redirect(
    page: Any, server: tuple[Sandbox, str], linked_tenant: Tenant, callback: Callback
) -> None:
    state = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>\'&amp;'
    page.goto(authorize(server, callback, state=state))
    page.get_by_text("Request details (for developers)").click()
    assert page.locator("dd code").nth(2).inner_text() == state  # shown as text
    assert page.evaluate("window.pwned") is None and page.locator("img").count() == 0
    log_in(page, LENA)
    page.get_by_role("button", name="Approve").click()
    page.wait_for_url(callback.url + "?**")
    assert callback.received[0]["state"] == state
    assert page.evaluate("window.pwned") is None


def test_the_emailed_link_shows_the_code(
    page: Any, server: tuple[Sandbox, str], linked_tenant: Tenant, callback: Callback
) -> None:
    assert callback.client is not None
    linked_tenant.linking.send_authorization_email(
        linked_tenant.client(callback.client.client_id), linked_tenant.user(LENA)
    )
    page.goto(f"{server[1]}/_mockwise/tenants/{linked_tenant.id}/mailbox/inbox")
    page.get_by_role("link", name="Log in and connect").click()
    assert page.get_by_label("Your e-mail address").input_value() == LENA
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_label("Verification code").fill("111111")
    page.get_by_role("button", name="Verify").click()
    page.get_by_role("button", name="Approve").click()
    code = page.locator("#authorization-code").inner_text()
    assert len(code) == 6 and callback.received == []
    exchanged = requests.post(
        f"{server[1]}/oauth/token",
        auth=(callback.client.client_id, callback.client.client_secret),
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": callback.url},
        timeout=10,
    )
    assert exchanged.status_code == 200, exchanged.text
