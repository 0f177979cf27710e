"""Partner-style tests of `wise_integration`, with mockwise's pytest fixtures.

`wise_sandbox` is a fresh Wise for each test: a partner client (mTLS enforced, as Wise does for
OAuth partners), seeded users, and handles on its clock, scenarios and journal."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from wise_integration import RelinkNeeded, Settings, WiseIntegration

from mockwise.testing import WiseSandbox

ALEX = "alex.morgan@example.com"


@pytest.fixture
def wise(wise_sandbox: WiseSandbox) -> Iterator[WiseIntegration]:
    """The integration, configured as a partner configures it: URLs, credentials, certificates."""
    settings = Settings(
        api_url=wise_sandbox.mtls_api_url,
        authorize_url=wise_sandbox.authorize_url,
        client_id=wise_sandbox.client_id,
        client_secret=wise_sandbox.client_secret,
        redirect_uri=wise_sandbox.redirect_uri,
    )
    integration = WiseIntegration(settings, verify=wise_sandbox.ssl_context())
    yield integration
    integration.close()


def link_alex(wise: WiseIntegration, wise_sandbox: WiseSandbox) -> None:
    url = wise.authorize_url("customer-42", date_of_birth="1985-04-12")
    redirect = wise_sandbox.link(url, ALEX)  # the customer logs in, passes 2FA and approves
    wise.handle_callback("customer-42", redirect)


def test_reuses_its_client_credentials_token(wise: WiseIntegration, wise_sandbox: WiseSandbox) -> None:
    assert wise.user_exists(ALEX) and not wise.user_exists("nobody@example.com")
    wise_sandbox.journal.assert_request_made(path="/oauth/token", grant_type="client_credentials", times=1)


def test_renews_its_client_credentials_token_before_it_expires(
    wise: WiseIntegration, wise_sandbox: WiseSandbox
) -> None:
    wise.user_exists(ALEX)
    wise_sandbox.clock.advance(hours=11, minutes=56, process=True)  # both clocks: no sleeping
    wise.user_exists(ALEX)
    wise_sandbox.journal.assert_request_made(path="/oauth/token", grant_type="client_credentials", times=2)
    wise_sandbox.journal.assert_no_request(status=401)


def test_links_a_user_through_the_authorize_page(wise: WiseIntegration, wise_sandbox: WiseSandbox) -> None:
    link_alex(wise, wise_sandbox)
    assert wise.me("customer-42")["email"] == ALEX
    wise_sandbox.journal.assert_request_made(path="/oauth/token", grant_type="authorization_code", times=1)


def test_refreshes_before_the_user_token_expires(wise: WiseIntegration, wise_sandbox: WiseSandbox) -> None:
    link_alex(wise, wise_sandbox)
    wise_sandbox.clock.advance(hours=11, minutes=57, process=True)
    assert wise.me("customer-42")["email"] == ALEX
    wise_sandbox.journal.assert_request_made(path="/oauth/token", grant_type="refresh_token", times=1)
    wise_sandbox.journal.assert_no_request(path="/v1/me", status=401)


def test_a_revoked_link_asks_for_a_relink(wise: WiseIntegration, wise_sandbox: WiseSandbox) -> None:
    link_alex(wise, wise_sandbox)
    wise_sandbox.revoke_access(ALEX)  # the customer revokes the partner's access on wise.com
    wise_sandbox.clock.advance(hours=12, process=True)
    with pytest.raises(RelinkNeeded):
        wise.me("customer-42")
    wise_sandbox.journal.assert_request_made(path="/oauth/token", grant_type="refresh_token", times=1)


def test_presents_its_client_certificate(wise: WiseIntegration, wise_sandbox: WiseSandbox) -> None:
    wise.user_exists(ALEX)
    [token_request] = wise_sandbox.journal.entries(path="/oauth/token")
    assert token_request.cert is not None  # the fingerprint of the certificate the partner presented


def test_the_same_integration_in_process(wise_sandbox: WiseSandbox) -> None:
    """No sockets, no TLS: the fastest path, for clients that accept an httpx transport."""
    settings = Settings("https://api.wise-sandbox.com", wise_sandbox.authorize_url, wise_sandbox.client_id,
                        wise_sandbox.client_secret, wise_sandbox.redirect_uri)  # fmt: skip
    wise = WiseIntegration(settings, transport=wise_sandbox.transport)
    assert wise.user_exists(ALEX)
    wise.close()
