"""An adapter that lets mockwise's contract suites judge `wise_integration`, a client that was not
written for them (docs/contracts.md walks through it). From this directory:

    mockwise contract --client wise_adapter:factory

The suites never hand the integration a token: they ask it to do what the partner's product does,
and judge what it sends. The adapter only translates: suite operations to the integration's
methods, and its answers (return values, exceptions) to outcomes.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any

import httpx
from wise_integration import RelinkNeeded, Settings, WiseIntegration

from mockwise.contracts.adapter import ClientConfig, NewUser, Outcome


class WiseIntegrationAdapter:
    def __init__(self, config: ClientConfig) -> None:
        # The partner's configuration, from the suite's: the mTLS host, the sandbox's CA (the
        # "Wise certificate") and the partner's client certificate.
        tls = ssl.create_default_context(cafile=config.ca_cert or None)
        if config.client_cert:
            tls.load_cert_chain(config.client_cert, config.client_key or None)
        self.settings = Settings(
            api_url=config.mtls_api_url or config.api_url,
            authorize_url=config.authorize_url,
            client_id=config.client_id,
            client_secret=config.client_secret,
            redirect_uri=config.redirect_uri,
        )
        self.integration = WiseIntegration(self.settings, verify=tls)

    def partner_call(self) -> Outcome:
        return _outcome(lambda: {"exists": self.integration.user_exists("nobody@example.com")})

    def create_user(self, user: NewUser) -> Outcome:
        return Outcome.error("unsupported")  # the integration only links existing accounts

    def start_link(self, user_key: str, date_of_birth: str) -> str:
        return self.integration.authorize_url(user_key, date_of_birth)

    def finish_link(self, user_key: str, callback_url: str) -> Outcome:
        return _outcome(lambda: {"profileId": self.integration.handle_callback(user_key, callback_url)})

    def user_call(self, user_key: str) -> Outcome:
        if user_key not in self.integration.customers:
            return Outcome.relink_needed()  # never linked, or dropped after a mismatch
        return _outcome(lambda: self.integration.me(user_key))

    def fund_transfer(self, user_key: str) -> Outcome:
        return Outcome.error("unsupported")  # no SCA-protected actions in this integration

    def update_client_secret(self, client_secret: str) -> None:
        self.settings.client_secret = client_secret

    def close(self) -> None:
        self.integration.close()


def _outcome(call: Callable[[], Any]) -> Outcome:
    """The integration's answer, or its exception, as the outcome the suites judge."""
    try:
        return Outcome.ok(call())
    except RelinkNeeded:
        return Outcome.relink_needed()
    except PermissionError as refused:  # the integration's way of refusing a redirect back
        return Outcome.error("state_mismatch" if "state" in str(refused) else "dob_mismatch")
    except httpx.HTTPStatusError as failed:
        status = failed.response.status_code
        kinds = {429: "rate_limited", 401: "unauthorized"}
        return Outcome.error(kinds.get(status, "server_error" if status >= 500 else "rejected"))
    except httpx.TransportError:
        return Outcome.error("network")
    except (ValueError, KeyError):  # a body it could not read
        return Outcome.error("server_error")


def factory(config: ClientConfig) -> WiseIntegrationAdapter:
    return WiseIntegrationAdapter(config)
