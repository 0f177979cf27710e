"""A partner's Wise integration, small and httpx-based: the kind of code mockwise's fixtures test.

It keeps one client-credentials token and renews it before it expires, links customers through
the authorize page (checking `state` and the date of birth), keeps their tokens fresh, and asks
for a re-link when Wise says a refresh token is dead.
"""

from __future__ import annotations

import secrets
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import httpx

RENEW_BEFORE = 300  # seconds before expiry


class RelinkNeeded(Exception):
    pass


@dataclass
class Settings:
    api_url: str  # Wise's mTLS host
    authorize_url: str
    client_id: str
    client_secret: str
    redirect_uri: str


@dataclass
class Customer:
    date_of_birth: str
    state: str = ""
    access_token: str = ""
    refresh_token: str = ""
    expires_at: float = 0.0
    profile_id: int = 0


class WiseIntegration:
    def __init__(
        self, settings: Settings, *, verify: ssl.SSLContext | bool = True, transport: Any = None
    ) -> None:
        self.settings = settings
        self.http = httpx.Client(base_url=settings.api_url, verify=verify, transport=transport, timeout=10)
        self._partner: tuple[str, float] | None = None
        self.customers: dict[str, Customer] = {}

    def _token(self, form: dict[str, str]) -> dict[str, Any]:
        response = self.http.post(
            "/oauth/token", auth=(self.settings.client_id, self.settings.client_secret), data=form
        )
        if response.status_code == 400 and response.json().get("error") == "invalid_grant":
            raise RelinkNeeded
        response.raise_for_status()
        tokens: dict[str, Any] = response.json()
        return tokens

    def partner_token(self) -> str:
        if self._partner is None or time.time() > self._partner[1] - RENEW_BEFORE:
            tokens = self._token({"grant_type": "client_credentials"})
            self._partner = (tokens["access_token"], time.time() + tokens["expires_in"])
        return self._partner[0]

    def user_exists(self, email: str) -> bool:
        response = self.http.post(
            "/v1/users/exists",
            json={"email": email},
            headers={"Authorization": f"Bearer {self.partner_token()}"},
        )
        response.raise_for_status()
        return bool(response.json()["exists"])

    def authorize_url(self, customer_id: str, date_of_birth: str) -> str:
        customer = self.customers.setdefault(customer_id, Customer(date_of_birth))
        customer.state = secrets.token_urlsafe(32)
        query = {
            "client_id": self.settings.client_id,
            "redirect_uri": self.settings.redirect_uri,
            "state": customer.state,
        }
        return f"{self.settings.authorize_url}?{urlencode(query)}"

    def handle_callback(self, customer_id: str, url: str) -> int:
        customer = self.customers[customer_id]
        query = {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}
        if not secrets.compare_digest(query.get("state", ""), customer.state):
            raise PermissionError("state mismatch")
        self._store(customer, self._token({
            "grant_type": "authorization_code", "client_id": self.settings.client_id,
            "code": query["code"], "redirect_uri": self.settings.redirect_uri,
        }))  # fmt: skip
        customer.profile_id = int(query["profileId"])
        profile = self._get(customer, f"/v2/profiles/{customer.profile_id}")
        if (
            profile.get("dateOfBirth") != customer.date_of_birth
        ):  # Wise linking-accounts page: check who we linked
            del self.customers[customer_id]
            raise PermissionError("date of birth mismatch")
        return customer.profile_id

    def me(self, customer_id: str) -> dict[str, Any]:
        return self._get(self.customers[customer_id], "/v1/me")

    def _get(self, customer: Customer, path: str) -> dict[str, Any]:
        if time.time() > customer.expires_at - RENEW_BEFORE:
            self._store(
                customer,
                self._token({"grant_type": "refresh_token", "refresh_token": customer.refresh_token}),
            )
        response = self.http.get(path, headers={"Authorization": f"Bearer {customer.access_token}"})
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def close(self) -> None:
        self.http.close()

    @staticmethod
    def _store(customer: Customer, tokens: dict[str, Any]) -> None:
        customer.access_token = tokens["access_token"]
        customer.refresh_token = tokens.get("refresh_token", customer.refresh_token)
        customer.expires_at = time.time() + tokens["expires_in"]
