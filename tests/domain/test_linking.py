"""Account-linking rules without HTTP: sessions, 2FA lockout, claim codes, the mailbox, URLs."""

from __future__ import annotations

import pytest

from mockwise._domain.linking import (
    LinkingError,
    Step,
    StepRefused,
    first_params,
    with_params,
)
from mockwise._domain.seed import Credentials
from mockwise._domain.settings import Limits
from mockwise._domain.tenant import Tenant
from tests.linking import ALEX, PASSWORD, authorize_url

MAILBOX_CAPACITY = Limits().mailbox_size


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("https://a.example/cb", "https://a.example/cb?code=C&state=a%20b%26c"),
        ("https://a.example/cb?x=1", "https://a.example/cb?x=1&code=C&state=a%20b%26c"),
        ("https://a.example/cb?", "https://a.example/cb?code=C&state=a%20b%26c"),
        ("myapp://wise#done", "myapp://wise?code=C&state=a%20b%26c#done"),
    ],
)
def test_redirects_append_to_the_registered_uri(uri: str, expected: str) -> None:
    assert with_params(uri, [("code", "C"), ("state", "a b&c")]) == expected


def test_the_first_of_repeated_parameters_wins() -> None:
    assert first_params("a=1&a=2&b=&c=%3Cx%3E") == {"a": "1", "b": "", "c": "<x>"}


def test_sessions_live_on_the_tenant_clock(tenant: Tenant) -> None:
    session, cookie = tenant.linking.open_session(None)
    assert cookie is not None and session.key != cookie  # only a hash of the cookie is kept
    assert tenant.linking.open_session(cookie) == (session, None)
    tenant.clock.advance(tenant.settings.authorize.login_session_lifetime)
    assert tenant.linking.session(cookie) is None
    assert session.key not in tenant.linking.sessions


def test_login_is_case_insensitive_on_the_email_and_checks_the_password(
    tenant: Tenant, creds: Credentials
) -> None:
    linking = tenant.linking
    request = linking.authorize(first_params(authorize_url(creds).split("?", 1)[1]))
    session, _ = linking.open_session(None)
    with pytest.raises(StepRefused) as refused:
        linking.log_in(session, ALEX, "wrong")
    assert refused.value.step is Step.LOGIN and refused.value.field == "password"
    linking.log_in(session, ALEX.upper(), PASSWORD)
    assert linking.step(session, request) is Step.TWO_FACTOR
    linking.verify_two_factor(session, " 111 111 ")
    assert linking.step(session, request) is Step.PROFILE  # two profiles: a choice
    assert linking.step(session, request, tenant.user(ALEX).profiles[1]) is Step.CONSENT


def test_the_lockout_counts_only_consecutive_failures(tenant: Tenant) -> None:
    session, _ = tenant.linking.open_session(None)
    tenant.linking.log_in(session, ALEX, PASSWORD)
    for _ in range(4):
        with pytest.raises(StepRefused):
            tenant.linking.verify_two_factor(session, "1")
    tenant.linking.verify_two_factor(session, "111111")
    assert tenant.linking.attempts[tenant.user(ALEX).id].failures == 0
    assert tenant.linking.locked_for(tenant.user(ALEX).id) == 0


def test_a_claim_code_is_bound_to_its_client(tenant: Tenant, creds: Credentials) -> None:
    sam = next(u for u in creds.users if u.get("registration_code"))
    user = tenant.user(sam["email"])
    code = tenant.linking.issue_claim_code(user, sam["created_by_client"], sam["registration_code"])
    other = tenant.add_client(name="Other", redirect_uris=["https://other.example/cb"])
    with pytest.raises(LinkingError):
        tenant.linking.authorize(
            {
                "client_id": other.client_id,
                "redirect_uri": "https://other.example/cb",
                "claim_account_code": code,
            }
        )


def test_the_mailbox_is_bounded_and_old_links_stop_working(tenant: Tenant, creds: Credentials) -> None:
    client = tenant.client(creds.clients[0]["client_id"])
    first = tenant.linking.send_authorization_email(client, tenant.user(ALEX))
    assert first is not None
    for _ in range(MAILBOX_CAPACITY):
        tenant.linking.send_authorization_email(client, tenant.user(ALEX))
    assert len(tenant.linking.mailbox) == MAILBOX_CAPACITY
    with pytest.raises(LinkingError):
        tenant.linking.authorize(first_params(first.link.split("?", 1)[1]))


def test_no_mail_for_a_client_without_a_redirect_uri(tenant: Tenant) -> None:
    client = tenant.add_client(name="No Redirect")
    assert tenant.linking.send_authorization_email(tenant.client(client.client_id), tenant.user(ALEX)) is None


def test_unused_sessions_are_bounded(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("mockwise._domain.linking.MAX_SESSIONS", 10)
    _, cookie = tenant.linking.open_session(None)
    for _ in range(30):
        tenant.linking.open_session(None)
    assert len(tenant.linking.sessions) <= 10
    assert tenant.linking.session(cookie) is None  # the oldest went first
