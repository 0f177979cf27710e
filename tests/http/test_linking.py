"""Claiming an account (§4), the e-mail flow (Wise linking-accounts page), and the scripted user
(control plane and Python API)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from mockwise._domain.linking import LinkingError, StepRefused
from mockwise._domain.seed import Credentials
from mockwise._domain.tenant import Tenant
from tests.helpers import (
    bearer,
    client_credentials,
    code_tokens,
    created_user,
    error,
    partner,
    registration_tokens,
    user_token,
)
from tests.linking import ALEX, LENA, PASSWORD, Pages, authorize_url, query_of

SAM_PASSWORD = "sam-new-Passw0rd"


def control(tenant: Tenant, path: str) -> str:
    return f"/_mockwise/tenants/{tenant.id}{path}"


def claim_code(api: httpx.Client, creds: Credentials) -> str:
    access = registration_tokens(api, creds)["access_token"]
    response = api.post(
        "/v1/user/claim-account",
        headers=bearer(access),
        json={"registrationCode": created_user(creds)["registration_code"]},
    )
    assert response.status_code == 200, response.text
    assert list(response.json()) == ["claimAccountCode"]
    return str(response.json()["claimAccountCode"])


def registration_grant(api: httpx.Client, creds: Credentials) -> httpx.Response:
    sam = created_user(creds)
    return api.post(
        "/oauth/token",
        auth=partner(creds),
        data={
            "grant_type": "registration_code",
            "client_id": creds.clients[0]["client_id"],
            "email": sam["email"],
            "registration_code": sam["registration_code"],
        },
    )


# Claiming an account ------------------------------------------------------------------------------


def test_claim_account_gives_a_uuid_code(api: httpx.Client, creds: Credentials) -> None:
    assert uuid.UUID(claim_code(api, creds))


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 400, "NotNull"),
        ({"registrationCode": 7}, 400, "TypeMismatch"),
        ({"registrationCode": "x" * 40}, 400, "INVALID"),
    ],
)
def test_claim_account_refuses_bad_registration_codes(
    api: httpx.Client, creds: Credentials, body: dict[str, object], status: int, code: str
) -> None:
    access = registration_tokens(api, creds)["access_token"]
    response = api.post("/v1/user/claim-account", headers=bearer(access), json=body)
    assert response.status_code == status and response.json()["errors"][0]["code"] == code


def test_claim_account_needs_the_partners_user_token(api: httpx.Client, creds: Credentials) -> None:
    body = {"registrationCode": created_user(creds)["registration_code"]}
    assert api.post("/v1/user/claim-account", json=body).status_code == 401
    cc = client_credentials(api, creds)
    assert api.post("/v1/user/claim-account", headers=bearer(cc), json=body).status_code == 403
    personal = creds.personal_tokens[0]["token"]
    assert api.post("/v1/user/claim-account", headers=bearer(personal), json=body).status_code == 403


def test_claim_account_refuses_users_the_partner_did_not_create(
    api: httpx.Client, creds: Credentials, tenant: Tenant
) -> None:
    access = user_token(api, tenant, creds, ALEX, creds.user(ALEX)["profiles"][0]["id"])
    response = api.post("/v1/user/claim-account", headers=bearer(access), json={"registrationCode": "y" * 40})
    assert response.status_code == 400 and response.json()["errors"][0]["code"] == "NOT_CLAIMABLE"


def test_claiming_on_the_authorize_page_reclaims_the_account(
    api: httpx.Client, creds: Credentials, tenant: Tenant
) -> None:
    sam = created_user(creds)
    code = claim_code(api, creds)
    pages = Pages(api, authorize_url(creds, state="claim-1", claim_account_code=code))
    assert "Claim your Wise account" in pages.text and sam["email"] in pages.text
    assert pages.submit("claim", password="short", confirm="short").status_code == 400
    assert 'id="password-error"' in pages.text
    pages.submit("claim", password=SAM_PASSWORD, confirm=SAM_PASSWORD + "!")
    assert 'id="confirm-error"' in pages.text
    assert registration_grant(api, creds).status_code == 200  # not claimed yet

    pages.submit("claim", password=SAM_PASSWORD, confirm=SAM_PASSWORD)
    assert error(registration_grant(api, creds)) == (401, "invalid_grant", "Invalid user credentials.")  # §4
    pages.submit("two_factor", otp="111111")
    assert "Create your profile" in pages.text  # a partner-created user has no profile yet (§3)
    pages.submit("create_profile", first_name="Sam", last_name="Doe", date_of_birth="2020-01-01")
    assert 'id="date_of_birth-error"' in pages.text and 'value="Sam"' in pages.text
    pages.submit("create_profile", first_name="Sam", last_name="Doe", date_of_birth="1990-05-17")
    assert "Connect Mockwise Partner Bank" in pages.text
    profile = tenant.user(sam["email"]).profiles[0]
    location = pages.submit("approve", profile_id=str(profile)).headers["location"]
    got = query_of(location)
    assert got["state"] == "claim-1" and got["profileId"] == str(profile)

    access = code_tokens(api, creds, got["code"])["access_token"]
    me = api.get("/v1/me", headers=bearer(access)).json()
    assert me["email"] == sam["email"] and me["details"]["dateOfBirth"] == "1990-05-17"
    # The account is the user's now: they log in with their own password.
    Pages(api, authorize_url(creds)).submit("logout")
    later = Pages(api, authorize_url(creds))
    later.log_in(sam["email"], SAM_PASSWORD)
    assert "Connect Mockwise Partner Bank" in later.text


def test_a_claim_account_code_lasts_5_minutes(api: httpx.Client, creds: Credentials, tenant: Tenant) -> None:
    code = claim_code(api, creds)
    tenant.clock.advance(5 * 60)
    response = api.get(authorize_url(creds, claim_account_code=code))
    assert response.status_code == 400 and "expired" in response.text and "<form" not in response.text


def test_a_claim_account_code_works_once(api: httpx.Client, creds: Credentials) -> None:
    access = registration_tokens(api, creds)["access_token"]
    body = {"registrationCode": created_user(creds)["registration_code"]}
    code = api.post("/v1/user/claim-account", headers=bearer(access), json=body).json()["claimAccountCode"]
    Pages(api, authorize_url(creds, claim_account_code=code)).submit(
        "claim", password=SAM_PASSWORD, confirm=SAM_PASSWORD
    )
    elsewhere = httpx.Client(transport=api._transport, base_url=str(api.base_url))
    response = elsewhere.get(authorize_url(creds, claim_account_code=code))
    assert response.status_code == 400 and "already been claimed" in response.text
    again = api.post("/v1/user/claim-account", headers=bearer(access), json=body)  # the token survives (§4)
    assert again.status_code == 400 and again.json()["errors"][0]["code"] == "ALREADY_CLAIMED"


def test_an_unknown_claim_account_code_gets_an_error_page(api: httpx.Client, creds: Credentials) -> None:
    response = api.get(authorize_url(creds, claim_account_code=str(uuid.uuid4())))
    assert response.status_code == 400 and "location" not in response.headers


# The e-mail flow ----------------------------------------------------------------------------------


def signup(api: httpx.Client, creds: Credentials, email: str, **extra: object) -> httpx.Response:
    cc = client_credentials(api, creds)
    body = {"email": email, "registrationCode": "r" * 40, **extra}
    return api.post("/v1/user/signup/registration_code", headers=bearer(cc), json=body)


def test_a_409_with_send_authorization_code_as_email_sends_a_link(
    api: httpx.Client, creds: Credentials, tenant: Tenant
) -> None:
    assert signup(api, creds, ALEX).status_code == 409
    assert api.get(control(tenant, "/mailbox")).json() == {"mails": []}
    assert signup(api, creds, "new.person@example.com", sendAuthorizationCodeAsEmail=True).status_code == 200
    assert api.get(control(tenant, "/mailbox")).json() == {
        "mails": []
    }  # only on a 409 (Wise linking-accounts page)

    response = signup(api, creds, ALEX, sendAuthorizationCodeAsEmail=True)
    assert response.status_code == 409 and response.json()["errors"][0]["code"] == "NOT_UNIQUE"
    (mail,) = api.get(control(tenant, "/mailbox")).json()["mails"]
    assert mail["to"] == ALEX and "Mockwise Partner Bank" in mail["subject"]
    assert mail["link"].startswith("https://api.wise-sandbox.com/oauth/authorize/?client_id=")
    assert PASSWORD not in str(mail)

    pages = Pages(api, mail["link"])
    assert f'value="{ALEX}"' in pages.text  # the addressee, pre-filled
    personal = creds.user(ALEX)["profiles"][0]["id"]
    shown = pages.link(personal)
    assert shown.status_code == 200 and "Your authorization code" in shown.text  # no redirect
    code = shown.text.split('id="authorization-code" aria-label="Authorization code">')[1][:6]
    tokens = code_tokens(api, creds, code)
    assert api.get("/v1/me", headers=bearer(tokens["access_token"])).json()["email"] == ALEX


def test_the_mailbox_page_and_clearing_it(api: httpx.Client, creds: Credentials, tenant: Tenant) -> None:
    assert "No e-mails yet" in api.get(control(tenant, "/mailbox/inbox")).text
    signup(api, creds, LENA, sendAuthorizationCodeAsEmail=True)
    page = api.get(control(tenant, "/mailbox/inbox"))
    assert page.status_code == 200 and "Connect your Wise account to Mockwise Partner Bank" in page.text
    assert 'href="https://api.wise-sandbox.com/oauth/authorize/?client_id=' in page.text
    assert api.delete(control(tenant, "/mailbox")).json() == {"mails": []}
    assert api.get(control(tenant, "/mailbox")).json() == {"mails": []}


def test_a_forged_email_link_gets_an_error_page(api: httpx.Client, creds: Credentials) -> None:
    response = api.get(authorize_url(creds, email_link="forged"))
    assert response.status_code == 400 and "<form" not in response.text


def test_denying_an_emailed_link_shows_a_page(api: httpx.Client, creds: Credentials, tenant: Tenant) -> None:
    signup(api, creds, LENA, sendAuthorizationCodeAsEmail=True)
    pages = Pages(api, tenant.linking.mailbox[-1].link)
    pages.log_in(LENA)
    response = pages.submit("deny")
    assert response.status_code == 200 and "You declined" in response.text


# The scripted user --------------------------------------------------------------------------------


def test_the_scripted_user_links_over_the_control_plane(
    api: httpx.Client, creds: Credentials, tenant: Tenant
) -> None:
    _, business = (p["id"] for p in creds.user(ALEX)["profiles"])
    body = {
        "authorize_url": authorize_url(creds, "http://x", state="s1"),
        "email": ALEX,
        "password": PASSWORD,
    }
    linked = api.post(control(tenant, "/link"), json={**body, "profile_id": business}).json()
    got = query_of(linked["redirect"])
    assert got["state"] == "s1" and got["profileId"] == str(business) and linked["profile_id"] == business
    access = code_tokens(api, creds, got["code"])["access_token"]
    assert api.get(f"/v1/profiles/{business}", headers=bearer(access)).status_code == 200

    denied = api.post(control(tenant, "/link"), json={**body, "approve": False}).json()
    assert denied["denied"] is True and query_of(denied["redirect"])["error"] == "access_denied"

    wrong = api.post(control(tenant, "/link"), json={**body, "otp": "222222"})
    assert wrong.status_code == 422
    assert wrong.json() == {
        "error": "wrong_code",
        "step": "two_factor",
        "message": "That code is wrong. You have 4 more tries.",
    }
    bad_password = api.post(control(tenant, "/link"), json={**body, "password": "nope"})
    assert bad_password.status_code == 422 and bad_password.json()["step"] == "login"


def test_the_scripted_user_refuses_bad_urls_and_bodies(
    api: httpx.Client, creds: Credentials, tenant: Tenant
) -> None:
    evil = authorize_url(creds).replace("localhost%3A8080", "evil.example")
    response = api.post(
        control(tenant, "/link"), json={"authorize_url": evil, "email": ALEX, "password": PASSWORD}
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_redirect_uri"
    assert api.post(control(tenant, "/link"), json={}).status_code == 400
    assert api.post(control(tenant, "/link"), json={"authorize_url": 5}).status_code == 400
    bad_profile = {
        "authorize_url": authorize_url(creds),
        "email": ALEX,
        "password": PASSWORD,
        "profile_id": True,
    }
    assert api.post(control(tenant, "/link"), json=bad_profile).status_code == 400


def test_the_python_api_scripted_user_and_its_knobs(tenant: Tenant, creds: Credentials) -> None:
    url = authorize_url(creds, state="py")
    personal, business = tenant.user(ALEX).profiles
    first = query_of(tenant.link(url, email=ALEX, password=PASSWORD))
    assert first["profileId"] == str(personal) and first["state"] == "py"
    chosen = query_of(tenant.link(url, email=ALEX, password=PASSWORD, profile_id=business))
    assert chosen["profileId"] == str(business)
    assert (
        query_of(tenant.link(url, email=ALEX, password=PASSWORD, approve=False))["error"] == "access_denied"
    )
    with pytest.raises(StepRefused) as refused:
        tenant.link(url, email=ALEX, password=PASSWORD, profile_id=tenant.user(LENA).profiles[0])
    assert refused.value.step.value == "profile"
    with pytest.raises(LinkingError):
        tenant.link("/oauth/authorize/?client_id=nobody", email=ALEX, password=PASSWORD)

    tenant.clock.freeze()
    for _ in range(5):
        with pytest.raises(StepRefused):
            tenant.link(url, email=ALEX, password=PASSWORD, otp="000000")
    with pytest.raises(StepRefused) as locked:
        tenant.link(url, email=ALEX, password=PASSWORD)  # the right code, during the lockout
    assert locked.value.error == "locked"
    tenant.clock.advance(15 * 60)
    assert "code" in query_of(tenant.link(url, email=ALEX, password=PASSWORD))


def test_the_scripted_user_claims_and_uses_emailed_links(
    api: httpx.Client, tenant: Tenant, creds: Credentials
) -> None:
    url = authorize_url(creds, claim_account_code=claim_code(api, creds))
    got = query_of(tenant.link(url, password=SAM_PASSWORD))
    sam = tenant.user(created_user(creds)["email"])
    assert sam.reclaimed and got["profileId"] == str(sam.profiles[0])
    assert error(registration_grant(api, creds))[1] == "invalid_grant"

    signup(api, creds, ALEX, sendAuthorizationCodeAsEmail=True)
    code = tenant.link(tenant.linking.mailbox[-1].link, password=PASSWORD)  # e-mail pre-filled
    assert len(code) == 6 and "?" not in code
    assert tenant.link(tenant.linking.mailbox[-1].link, password=PASSWORD, approve=False) == ""


def test_control_docstrings_are_openapi_yaml() -> None:
    import inspect

    import yaml

    from mockwise._http.control import linking

    for route in linking.routes:
        operation = yaml.safe_load(inspect.getdoc(route.endpoint) or "")
        assert {"summary", "tags", "responses"} <= set(operation), route.path
