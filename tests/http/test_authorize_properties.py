"""Property: hostile query strings and forms on the authorize page never give a 500, never redirect
anywhere unregistered, and never come back unescaped."""

from __future__ import annotations

import html
import re
from urllib.parse import quote

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markupsafe import escape

from mockwise._domain.sandbox import Sandbox
from mockwise._http.app import create_app
from mockwise._transport.inprocess import SyncASGITransport
from tests.linking import ALEX, LENA, PASSWORD

SANDBOX = Sandbox()
TENANT, CREDS = SANDBOX.create_tenant()
CLIENT_ID = CREDS.clients[0]["client_id"]
REDIRECT = CREDS.clients[0]["redirect_uris"][0]
TRANSPORT = SyncASGITransport(create_app(SANDBOX))

# Payloads that would break out of text, attributes or the page if reflected raw.
PAYLOADS = ["<i id=pwn>", '"><i id=pwn>', "' onfocus=pwn x='", "</textarea><i id=pwn>", "{{7*7}}"]
RAW = ["<i id=pwn>", "' onfocus=pwn", '" onfocus']

text = st.text(max_size=40)
hostile = st.builds(lambda a, p, b: a + p + b, text, st.sampled_from(PAYLOADS), text) | text
names = st.sampled_from(
    ["client_id", "redirect_uri", "state", "claim_account_code", "email_link", "response_type", "scope"]
) | st.text(max_size=12)  # fmt: skip


def client() -> httpx.Client:
    return httpx.Client(transport=TRANSPORT, base_url="https://api.wise-sandbox.com")


def check(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code in (301, 302, 303, 307, 308):
        assert response.headers["location"].startswith(REDIRECT + "?")
    for raw in RAW:
        assert raw not in response.text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    client_id=st.sampled_from([CLIENT_ID, "", "nobody"]) | hostile,
    redirect_uri=st.sampled_from([REDIRECT, REDIRECT + "/", ""]) | hostile,
    state=hostile,
    extra=st.lists(st.tuples(names, hostile), max_size=4),
)
def test_hostile_queries_are_answered_safely(
    client_id: str, redirect_uri: str, state: str, extra: list[tuple[str, str]]
) -> None:
    pairs = [("client_id", client_id), ("redirect_uri", redirect_uri), ("state", state), *extra]
    query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)
    with client() as browser:
        response = browser.get(f"/oauth/authorize/?{query}")
    check(response)
    if client_id == CLIENT_ID and redirect_uri == REDIRECT and response.status_code == 200:
        assert str(escape(state)) in response.text  # reflected, escaped


forms = st.fixed_dictionaries(
    {},
    optional={
        "action": st.sampled_from(
            ["login", "two_factor", "claim", "create_profile", "choose_profile", "approve", "deny", "logout"]
        )
        | text,
        "email": st.sampled_from([ALEX, LENA]) | hostile,
        "password": st.sampled_from([PASSWORD]) | hostile,
        "otp": st.sampled_from(["111111", "000000"]) | hostile,
        "confirm": hostile,
        "first_name": hostile,
        "last_name": hostile,
        "date_of_birth": st.sampled_from(["1990-01-01", "2090-01-01"]) | hostile,
        "profile_id": st.sampled_from([str(p) for p in TENANT.user(ALEX).profiles]) | hostile,
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(forms, min_size=1, max_size=5), state=hostile, good_csrf=st.booleans())
def test_hostile_forms_are_answered_safely(steps: list[dict[str, str]], state: str, good_csrf: bool) -> None:
    TENANT.linking.attempts.clear()  # keep examples independent of earlier lockouts
    query = (
        f"client_id={quote(CLIENT_ID)}&redirect_uri={quote(REDIRECT, safe='')}&state={quote(state, safe='')}"
    )
    with client() as browser:
        page = browser.get(f"/oauth/authorize/?{query}")
        check(page)
        for form in steps:
            found = re.search(r'name="csrf" value="([^"]+)"', page.text)
            csrf = html.unescape(found.group(1)) if found and good_csrf else "forged"
            page = browser.post(f"/oauth/authorize/?{query}", data={"csrf": csrf, **form})
            check(page)
            if page.status_code == 302:
                break
