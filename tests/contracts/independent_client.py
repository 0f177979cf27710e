"""A correct Wise client written independently of `mockwise.contracts.reference`, with habits the suites must
not mistake for bugs: it times tokens with `time.monotonic()` and waits with a `sleep` bound at
import, generates its own registration codes, renews a minute before expiry, parses the redirect
back last-value-wins, and offers no `fund_transfer`."""

from __future__ import annotations

import secrets
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from time import monotonic, sleep  # bound at import, on purpose
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlparse

import httpx

from mockwise.contracts.adapter import ClientConfig, NewUser, Outcome

MARGIN = 60.0  # seconds before expiry
DEFAULT_LIFETIME = 12 * 3600 - 1  # Wise documents 12-hour tokens, for an answer without expires_in


class Failed(Exception):
    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class Relink(Exception):
    pass


class Customer:
    def __init__(self, email: str | None = None, code: str | None = None) -> None:
        self.email, self.code = email, code
        self.access: str | None = None
        self.refresh: str | None = None
        self.deadline = 0.0  # monotonic
        self.lock = threading.Lock()


class Client:
    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        tls = ssl.create_default_context(cafile=config.ca_cert or None)
        if config.client_cert:
            tls.load_cert_chain(config.client_cert, config.client_key)
        self.http = httpx.Client(base_url=config.mtls_api_url or config.api_url, verify=tls, timeout=10)
        self.secret = config.client_secret
        self.partner: tuple[str, float] | None = None
        self.partner_lock = threading.Lock()
        self.customers: dict[str, Customer] = {}
        self.pending: dict[str, tuple[str, str]] = {}

    # Plumbing ------------------------------------------------------------------------------------

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Three attempts, backing off, honouring Retry-After."""
        delay = 0.1
        for attempt in range(3):
            last = attempt == 2
            try:
                response = self.http.request(method, path, **kwargs)
            except httpx.TransportError:
                if last:
                    raise Failed("network") from None
                sleep(delay)
                delay *= 2
                continue
            if response.status_code in (429, 503) and "Retry-After" in response.headers:
                if last:
                    raise Failed("rate_limited" if response.status_code == 429 else "server_error")
                sleep(_seconds(response.headers["Retry-After"], delay))
                continue
            if response.status_code == 429:
                if last:
                    raise Failed("rate_limited")
                sleep(delay)
                delay *= 2
                continue
            if response.status_code >= 500 or (response.status_code == 200 and _json(response) is None):
                if last:
                    raise Failed("server_error")
                sleep(delay)
                delay *= 2
                continue
            return response
        raise AssertionError("unreachable")

    def grant(self, form: dict[str, str]) -> dict[str, Any] | None:
        """Tokens; None for invalid_grant."""
        auth = (self.config.client_id, self.secret)
        if form["grant_type"] == "authorization_code":  # single use: never tried twice
            try:
                response = self.http.post("/oauth/token", data=form, auth=auth)
            except httpx.TransportError:
                raise Failed("network") from None
            if response.status_code in (429, 502, 503, 504) or _json(response) is None:
                raise Failed("server_error")
        else:
            response = self.request("POST", "/oauth/token", data=form, auth=auth)
        body = _json(response) or {}
        if response.status_code == 200:
            return body
        if body.get("error") == "invalid_grant":
            return None
        raise Failed("unauthorized" if response.status_code == 401 else "rejected")

    def partner_token(self, refused: str | None = None) -> str:
        with self.partner_lock:
            held = self.partner
            if held is None or held[0] == refused or monotonic() > held[1] - MARGIN:
                body = self.grant({"grant_type": "client_credentials"})
                if body is None:
                    raise Failed("rejected")
                held = self.partner = (body["access_token"], monotonic() + _lifetime(body))
            return held[0]

    def as_partner(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        token = self.partner_token()
        response = self.request(method, path, headers=_bearer(token), **kwargs)
        if response.status_code == 401:
            response = self.request(method, path, headers=_bearer(self.partner_token(token)), **kwargs)
        return response

    def user_token(self, customer: Customer, refused: str | None = None) -> str:
        with customer.lock:
            if (
                customer.access is None
                or customer.access == refused
                or monotonic() > customer.deadline - MARGIN
            ):
                self.renew(customer)
            assert customer.access is not None
            return customer.access

    def renew(self, customer: Customer) -> None:
        body = None
        if customer.refresh:
            body = self.grant({"grant_type": "refresh_token", "refresh_token": customer.refresh})
        if body is None:
            customer.access = customer.refresh = None
            if customer.code is None:
                raise Relink
            body = self.grant(
                {
                    "grant_type": "registration_code",
                    "client_id": self.config.client_id,
                    "email": customer.email or "",
                    "registration_code": customer.code,
                }
            )
            if body is None:
                customer.code = None
                raise Relink
        self.keep(customer, body)

    @staticmethod
    def keep(customer: Customer, body: dict[str, Any]) -> None:
        customer.access = body["access_token"]
        customer.refresh = body.get("refresh_token") or customer.refresh
        customer.deadline = monotonic() + _lifetime(body)

    def as_user(self, key: str, method: str, path: str) -> httpx.Response:
        customer = self.customers.get(key)
        if customer is None:
            raise Relink
        try:
            token = self.user_token(customer)
            response = self.request(method, path, headers=_bearer(token))
            if response.status_code == 401:
                response = self.request(method, path, headers=_bearer(self.user_token(customer, token)))
            return response
        except Relink:
            self.customers.pop(key, None)
            raise

    # The suite's operations ----------------------------------------------------------------------

    def partner_call(self) -> Outcome:
        return run(lambda: self.as_partner("POST", "/v1/users/exists", json={"email": "x@example.com"}))

    def create_user(self, user: NewUser) -> Outcome:
        code = uuid.uuid4().hex + uuid.uuid4().hex  # its own registration code, not the suite's

        def create() -> httpx.Response:
            body = {"email": user.email, "registrationCode": code}
            response = self.as_partner("POST", "/v1/user/signup/registration_code", json=body)
            if response.status_code == 200:
                customer = self.customers[user.key] = Customer(user.email, code)
                self.user_token(customer)
            return response

        return run(create)

    def start_link(self, user_key: str, date_of_birth: str) -> str:
        state = secrets.token_hex(16)
        self.pending[user_key] = (state, date_of_birth)
        query = {"client_id": self.config.client_id, "redirect_uri": self.config.redirect_uri, "state": state}
        return f"{self.config.authorize_url}?{urlencode(query)}"

    def finish_link(self, user_key: str, callback_url: str) -> Outcome:
        params = dict(parse_qsl(urlparse(callback_url).query, keep_blank_values=True))
        state, date_of_birth = self.pending.pop(user_key, (None, None))
        if state is None or params.get("state") != state:
            return Outcome.error("state_mismatch")

        def link() -> httpx.Response:
            body = self.grant(
                {
                    "grant_type": "authorization_code",
                    "client_id": self.config.client_id,
                    "code": params["code"],
                    "redirect_uri": self.config.redirect_uri,
                }
            )
            if body is None:
                raise Failed("rejected")
            customer = self.customers[user_key] = Customer()
            self.keep(customer, body)
            response = self.as_user(user_key, "GET", f"/v2/profiles/{params.get('profileId')}")
            profile = _json(response) or {}
            if profile.get("type") == "PERSONAL" and profile.get("dateOfBirth") != date_of_birth:
                self.customers.pop(user_key, None)
                raise Failed("dob_mismatch")
            return response

        return run(link)

    def user_call(self, user_key: str) -> Outcome:
        return run(lambda: self.as_user(user_key, "GET", "/v1/me"))

    def fund_transfer(self, user_key: str) -> Outcome:
        return Outcome.error("unsupported")

    def update_client_secret(self, client_secret: str) -> None:
        self.secret = client_secret

    def close(self) -> None:
        self.http.close()


def _lifetime(body: dict[str, Any]) -> float:
    """`expires_in`, which RFC 6749 §5.1 only recommends; without it, Wise's documented 12 hours."""
    value = body.get("expires_in")
    return float(value) if isinstance(value, int | float) else DEFAULT_LIFETIME


def _seconds(retry_after: str, default: float) -> float:
    """RFC 9110 §10.2.3: delay-seconds, or an HTTP-date (read against the wall clock)."""
    if retry_after.strip().isdigit():
        return float(retry_after)
    try:
        return max(0.0, parsedate_to_datetime(retry_after).timestamp() - time.time())
    except (TypeError, ValueError):
        return default


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def run(call: Callable[[], httpx.Response]) -> Outcome:
    try:
        response = call()
    except Relink:
        return Outcome.relink_needed()
    except Failed as failed:
        return Outcome.error(failed.kind)
    if response.status_code in (200, 201):
        return Outcome.ok()
    return Outcome.error("unauthorized" if response.status_code == 401 else "rejected")


def factory(config: ClientConfig) -> Client:
    return Client(config)
