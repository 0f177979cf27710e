"""The authorize page over HTTP (reference §3, Wise linking-accounts page): pages, redirects, codes,
2FA lockout, CSRF."""

from __future__ import annotations

import httpx
import pytest

from mockwise._domain.sandbox import Sandbox
from mockwise._domain.seed import Credentials
from mockwise._domain.settings import Settings
from mockwise._domain.tenant import Tenant
from tests.helpers import bearer, code_tokens, error, partner
from tests.linking import ALEX, LENA, PASSWORD, Pages, authorize_url, query_of

API = "https://api.wise-sandbox.com"


def alex_profiles(creds: Credentials) -> tuple[int, int]:
    profiles = creds.user(ALEX)["profiles"]
    return profiles[0]["id"], profiles[1]["id"]  # personal, business


def exchange(
    api: httpx.Client, creds: Credentials, code: str, redirect_uri: str | None = None
) -> httpx.Response:
    redirect_uri = redirect_uri or creds.clients[0]["redirect_uris"][0]
    return api.post(
        "/oauth/token",
        auth=partner(creds),
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri},
    )


# The page and its request -------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/oauth/authorize/", "/oauth/authorize"])
def test_the_page_answers_with_and_without_the_trailing_slash(
    api: httpx.Client, creds: Credentials, path: str
) -> None:
    url = authorize_url(creds, response_type="code").replace("/oauth/authorize/", path)
    response = api.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "Log in to Wise" in response.text and "Mockwise Partner Bank" in response.text
    assert '<label for="email">' in response.text and '<label for="password">' in response.text
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/oauth/authorize" in cookie
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    "query",
    [
        "",
        "client_id=",
        "client_id=nobody&redirect_uri=http%3A%2F%2Flocalhost%3A8080%2Fwise%2Fcallback",
    ],
)
def test_an_unknown_client_gets_an_error_page(api: httpx.Client, query: str) -> None:
    response = api.get(f"/oauth/authorize/?{query}")
    assert response.status_code == 400 and "location" not in response.headers
    assert "We can&#39;t continue with this link" in response.text


@pytest.mark.parametrize(
    "redirect_uri",
    [
        None,
        "",
        "http://localhost:8080/wise/callback/",
        "http://localhost:8080/wise/callback?next=1",
        "http://LOCALHOST:8080/wise/callback",
        "https://localhost:8080/wise/callback",
        "http://localhost:8080/wise/callbackX",
        "https://evil.example/steal",
    ],
)
def test_an_unregistered_redirect_uri_gets_an_error_page_never_a_redirect(
    api: httpx.Client, creds: Credentials, redirect_uri: str | None
) -> None:
    query = {"client_id": creds.clients[0]["client_id"], "state": "s"}
    if redirect_uri is not None:
        query["redirect_uri"] = redirect_uri
    response = api.get("/oauth/authorize/", params=query)
    assert response.status_code == 400 and "location" not in response.headers
    assert "evil.example" not in response.text.replace("https://evil.example/steal", "")
    assert "<form" not in response.text


def test_a_redirect_uri_with_a_query_string_must_match_it_exactly(api: httpx.Client, tenant: Tenant) -> None:
    registered = "https://bank.example/wise?tenant=7"
    client = tenant.add_client(name="Query Bank", redirect_uris=[registered])
    base = {"client_id": client.client_id, "state": "abc"}
    assert (
        api.get("/oauth/authorize/", params={**base, "redirect_uri": "https://bank.example/wise"}).status_code
        == 400
    )
    pages = Pages(api, f"/oauth/authorize/?{httpx.QueryParams({**base, 'redirect_uri': registered})}")
    assert pages.response.status_code == 200
    pages.log_in()
    personal = tenant.user(ALEX).profiles[0]
    pages.submit("choose_profile", profile_id=str(personal))
    location = pages.submit("approve", profile_id=str(personal)).headers["location"]
    assert location.startswith(registered + "&code=")
    assert query_of(location)["tenant"] == "7" and query_of(location)["state"] == "abc"


# The happy path -----------------------------------------------------------------------------------


def test_login_2fa_profile_choice_and_approve_redirect_with_code_state_and_profile(
    api: httpx.Client, creds: Credentials
) -> None:
    personal, business = alex_profiles(creds)
    pages = Pages(api, authorize_url(creds, state="st-42"))
    pages.submit("login", email=ALEX, password=PASSWORD)
    assert "Confirm it's you" in pages.text and 'autocomplete="one-time-code"' in pages.text
    pages.submit("two_factor", otp="111111")
    assert "Choose a profile" in pages.text and "Morgan Analytics Inc." in pages.text
    pages.submit("choose_profile", profile_id=str(business))
    assert "Connect Mockwise Partner Bank to your Wise account?" in pages.text
    response = pages.submit("approve", profile_id=str(business))

    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith("http://localhost:8080/wise/callback?code=")
    got = query_of(location)
    assert list(got) == ["code", "state", "profileId"]  # Wise's order (§3)
    assert got["state"] == "st-42" and got["profileId"] == str(business) and len(got["code"]) == 6

    tokens = exchange(api, creds, got["code"])
    assert tokens.status_code == 200, tokens.text
    access = tokens.json()["access_token"]
    assert api.get("/v1/me", headers=bearer(access)).json()["email"] == ALEX
    assert api.get(f"/v2/profiles/{business}", headers=bearer(access)).status_code == 200
    assert api.get(f"/v2/profiles/{personal}", headers=bearer(access)).status_code == 403  # bound (§3)


def test_without_state_the_redirect_has_no_state(api: httpx.Client, creds: Credentials) -> None:
    personal, _ = alex_profiles(creds)
    location = Pages(api, authorize_url(creds)).link(personal).headers["location"]
    assert list(query_of(location)) == ["code", "profileId"]


def test_state_with_html_is_escaped_on_the_page_and_exact_in_the_redirect(
    api: httpx.Client, creds: Credentials
) -> None:
    state = "<script>alert('x')</script>\"&amp;é ü+%20/?#"
    pages = Pages(api, authorize_url(creds, state=state))
    assert "<script>alert" not in pages.text
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&#34;&amp;amp;é ü+%20/?#" in pages.text
    personal, _ = alex_profiles(creds)
    pages.log_in()
    pages.submit("choose_profile", profile_id=str(personal))
    assert "<script>alert" not in pages.text
    location = pages.submit("approve", profile_id=str(personal)).headers["location"]
    assert query_of(location)["state"] == state


def test_a_user_with_one_profile_goes_straight_to_consent(api: httpx.Client, creds: Credentials) -> None:
    pages = Pages(api, authorize_url(creds))
    pages.log_in(LENA)
    assert "Connect Mockwise Partner Bank" in pages.text
    lena_profile = creds.user(LENA)["profiles"][0]["id"]
    location = pages.submit("approve", profile_id=str(lena_profile)).headers["location"]
    assert query_of(location)["profileId"] == str(lena_profile)


def test_two_factor_is_a_per_user_setting(api: httpx.Client, creds: Credentials, tenant: Tenant) -> None:
    tenant.user(LENA).two_factor = False
    pages = Pages(api, authorize_url(creds))
    pages.log_in(LENA, otp=None)
    assert "Connect Mockwise Partner Bank" in pages.text


def test_a_signed_in_browser_skips_the_login_until_it_logs_out_or_the_session_ends(
    api: httpx.Client, creds: Credentials, tenant: Tenant
) -> None:
    pages = Pages(api, authorize_url(creds))
    pages.log_in()
    again = Pages(api, authorize_url(creds, state="second"))
    assert "Choose a profile" in again.text  # Wise linking-accounts page: "if they are not already logged in"
    again.submit("logout")
    assert "Log in to Wise" in again.text
    again.log_in()
    tenant.clock.advance(tenant.settings.authorize.login_session_lifetime)
    assert "Log in to Wise" in Pages(api, authorize_url(creds)).text


# Refusals on the pages ----------------------------------------------------------------------------


def test_a_wrong_password_shows_an_error_tied_to_the_field(api: httpx.Client, creds: Credentials) -> None:
    pages = Pages(api, authorize_url(creds))
    response = pages.submit("login", email="<b>alex</b>@example.com", password="nope")
    assert response.status_code == 400
    assert 'id="password-error"' in pages.text and 'aria-describedby="password-error"' in pages.text
    assert 'aria-invalid="true"' in pages.text
    assert 'value="&lt;b&gt;alex&lt;/b&gt;@example.com"' in pages.text  # kept, escaped
    assert "Log in to Wise" in pages.text


def test_wrong_2fa_codes_lock_the_user_out_for_15_minutes_of_tenant_time(
    api: httpx.Client, creds: Credentials, tenant: Tenant
) -> None:
    tenant.clock.freeze()
    pages = Pages(api, authorize_url(creds))
    pages.submit("login", email=ALEX, password=PASSWORD)
    for left in (4, 3, 2, 1):
        assert pages.submit("two_factor", otp="123456").status_code == 400
        assert f"You have {left} more" in pages.text and 'id="otp-error"' in pages.text
    pages.submit("two_factor", otp="000000")
    assert "try again in 15 minutes" in pages.text
    pages.submit("two_factor", otp="111111")  # the right code is refused while locked
    assert "try again in 15 minutes" in pages.text and "Confirm it" in pages.text

    other_browser = httpx.Client(transport=api._transport, base_url=API)
    elsewhere = Pages(other_browser, authorize_url(creds))
    elsewhere.submit("login", email=ALEX, password=PASSWORD)
    elsewhere.submit("two_factor", otp="111111")
    assert "try again in" in elsewhere.text  # the lockout is the user's, not the browser's

    tenant.clock.advance(14 * 60)
    pages.submit("two_factor", otp="111111")
    assert "try again in 1 minute" in pages.text
    tenant.clock.advance(60)
    pages.submit("two_factor", otp="111111")
    assert "Choose a profile" in pages.text


def test_forms_without_the_right_csrf_token_are_refused(
    api: httpx.Client, creds: Credentials, tenant: Tenant
) -> None:
    pages = Pages(api, authorize_url(creds, state="s"))
    url, _ = pages.form()
    forged = api.post(url, data={"csrf": "forged", "action": "login", "email": ALEX, "password": PASSWORD})
    assert forged.status_code == 403 and "Start again" in forged.text
    assert 'href="/oauth/authorize/?client_id=' in forged.text
    missing = api.post(url, data={"action": "deny"})
    assert missing.status_code == 403 and "location" not in missing.headers

    cookieless = httpx.Client(transport=api._transport, base_url=API)
    _, csrf = pages.form()
    stolen = cookieless.post(url, data={"csrf": csrf, "action": "deny"})
    assert stolen.status_code == 403 and "location" not in stolen.headers
    assert "Log in to Wise" in Pages(api, authorize_url(creds)).text  # nothing signed in


def test_the_login_changes_the_session_cookie(api: httpx.Client, creds: Credentials, tenant: Tenant) -> None:
    pages = Pages(api, authorize_url(creds))
    before = api.cookies.get(f"mockwise_session_{tenant.id}")
    pages.submit("login", email=ALEX, password=PASSWORD)
    assert api.cookies.get(f"mockwise_session_{tenant.id}") not in (None, before)


def test_approving_someone_elses_profile_is_refused(api: httpx.Client, creds: Credentials) -> None:
    pages = Pages(api, authorize_url(creds))
    pages.log_in()
    lena_profile = creds.user(LENA)["profiles"][0]["id"]
    response = pages.submit("approve", profile_id=str(lena_profile))
    assert response.status_code == 400 and "location" not in response.headers
    assert pages.submit("approve", profile_id="nonsense").status_code == 400


def test_an_unknown_action_re_renders_the_step(api: httpx.Client, creds: Credentials) -> None:
    pages = Pages(api, authorize_url(creds))
    assert pages.submit("fly").status_code == 400 and "Log in to Wise" in pages.text


# Deny ---------------------------------------------------------------------------------------------


def test_deny_redirects_with_access_denied_and_the_state(api: httpx.Client, creds: Credentials) -> None:
    pages = Pages(api, authorize_url(creds, state="<x>"))
    pages.log_in(LENA)
    response = pages.submit("deny")
    assert response.status_code == 302
    got = query_of(response.headers["location"])
    assert got == {"error": "access_denied", "error_description": "User denied access", "state": "<x>"}


def test_deny_can_show_a_page_with_a_link_back_instead(
    api: httpx.Client, creds: Credentials, tenant: Tenant
) -> None:
    tenant.settings = tenant.settings.apply({"authorize.deny_redirects": False})
    pages = Pages(api, authorize_url(creds, state="s"))
    pages.log_in(LENA)
    response = pages.submit("deny")
    assert response.status_code == 200 and "You declined" in response.text
    assert (
        'href="http://localhost:8080/wise/callback?error=access_denied&amp;error_description=User%20denied'
        in response.text
    )


# Codes issued by the page -------------------------------------------------------------------------


def test_a_reused_code_fails_and_revokes_what_it_issued(api: httpx.Client, creds: Credentials) -> None:
    personal, _ = alex_profiles(creds)
    code = query_of(Pages(api, authorize_url(creds)).link(personal).headers["location"])["code"]
    first = exchange(api, creds, code).json()
    assert api.get("/v1/me", headers=bearer(first["access_token"])).status_code == 200
    again = exchange(api, creds, code)
    assert error(again) == (400, "invalid_grant", f"Invalid authorization code: {code}")
    assert api.get("/v1/me", headers=bearer(first["access_token"])).status_code == 401  # RFC 6749 §4.1.2
    refreshed = api.post(
        "/oauth/token",
        auth=partner(creds),
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
    )
    assert error(refreshed)[1] == "invalid_grant"


def test_a_code_expires_after_30_minutes_of_tenant_time(
    api: httpx.Client, creds: Credentials, tenant: Tenant
) -> None:
    personal, _ = alex_profiles(creds)
    code = query_of(Pages(api, authorize_url(creds)).link(personal).headers["location"])["code"]
    tenant.clock.advance(30 * 60)
    assert error(exchange(api, creds, code))[:2] == (400, "invalid_grant")


def test_a_code_is_exchanged_only_with_its_redirect_uri(api: httpx.Client, creds: Credentials) -> None:
    personal, _ = alex_profiles(creds)
    code = query_of(Pages(api, authorize_url(creds)).link(personal).headers["location"])["code"]
    mismatch = exchange(api, creds, code, "http://localhost:8080/wise/callback/")
    assert error(mismatch) == (400, "invalid_grant", "Redirect URI mismatch.")


# The journal --------------------------------------------------------------------------------------


def test_page_requests_are_journaled_under_the_tenant_without_secrets(
    api: httpx.Client, creds: Credentials, tenant: Tenant
) -> None:
    personal, _ = alex_profiles(creds)
    Pages(api, authorize_url(creds, state="journal-state")).link(personal)
    entries = tenant.journal.select(path="/oauth/authorize/")
    assert [e.method for e in entries] == ["GET", "POST", "POST", "POST", "POST"]
    assert entries[0].params == ("client_id", "redirect_uri", "state")
    assert entries[-1].status == 302 and entries[-1].user_id == tenant.user(ALEX).id
    dumped = repr([e.as_json() for e in tenant.journal])
    assert PASSWORD not in dumped and "111111" not in dumped


def test_tenant_reset_forgets_sign_ins(api: httpx.Client, creds: Credentials, tenant: Tenant) -> None:
    Pages(api, authorize_url(creds)).log_in()
    tenant.reset()
    assert "Log in to Wise" in Pages(api, authorize_url(creds)).text


def test_tenants_have_separate_cookies(api: httpx.Client, sandbox: Sandbox, creds: Credentials) -> None:
    _, other = sandbox.create_tenant(settings=Settings())
    Pages(api, authorize_url(creds)).log_in()
    assert "Log in to Wise" in Pages(api, authorize_url(other)).text
    assert "Choose a profile" in Pages(api, authorize_url(creds)).text


def test_registration_and_profile_token_helpers_still_work(api: httpx.Client, creds: Credentials) -> None:
    # The page's codes and the token endpoint share one store: a page code is a normal code.
    personal, _ = alex_profiles(creds)
    code = query_of(Pages(api, authorize_url(creds)).link(personal).headers["location"])["code"]
    body = code_tokens(api, creds, code)
    assert body["token_type"] == "bearer" and body["expires_in"] == 43199


def test_wrong_passwords_lock_the_email_for_15_minutes_of_tenant_time(
    api: httpx.Client, creds: Credentials, tenant: Tenant
) -> None:
    """Issue 15: 30 wrong passwords, then the right one, used to sign in. Now five lock the e-mail
    (`authorize.login_max_failures`), whatever browser tries next, the right password included."""
    tenant.clock.freeze()
    pages = Pages(api, authorize_url(creds))
    for _ in range(4):
        assert pages.submit("login", email=ALEX, password="guess").status_code == 400
        assert "Check them and try again" in pages.text
    pages.submit("login", email=ALEX.upper(), password="guess")  # the same account, any case
    assert "Too many wrong passwords: for your security, try again in 15 minutes." in pages.text
    other_browser = Pages(httpx.Client(transport=api._transport, base_url=API), authorize_url(creds))
    assert other_browser.submit("login", email=ALEX, password=PASSWORD).status_code == 400
    assert "try again in 15 minutes" in other_browser.text and "Log in to Wise" in other_browser.text
    tenant.clock.advance(15 * 60)
    other_browser.submit("login", email=ALEX, password=PASSWORD)
    assert "Log in to Wise" not in other_browser.text  # on to 2FA
    assert pages.submit("login", email=LENA, password="guess").status_code == 400  # others unaffected
    assert "Check them and try again" in pages.text


def test_unknown_emails_lock_alike_and_the_lockout_is_a_setting(
    api: httpx.Client, creds: Credentials, tenant: Tenant
) -> None:
    tenant.configure({"authorize.login_max_failures": 2, "authorize.login_lockout": 60})
    pages = Pages(api, authorize_url(creds))
    pages.submit("login", email="nobody@example.com", password="x")
    pages.submit("login", email="nobody@example.com", password="x")
    assert "try again in 1 minute." in pages.text  # no hint whether the account exists
    tenant.configure({"authorize.login_max_failures": 0})
    for _ in range(10):
        pages.submit("login", email=LENA, password="x")
    assert "Check them and try again" in pages.text  # 0: never locked
    tenant.reset()  # the seeded settings, and no lockout remembered
    assert tenant.settings.authorize.login_max_failures == 5 and not tenant.linking.login_attempts
