"""Helpers for account-linking tests: authorize URLs and an in-process 'browser' for the pages."""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from mockwise._domain.seed import Credentials

ALEX = "alex.morgan@example.com"
LENA = "lena.fischer@example.com"
PASSWORD = "sandbox-Passw0rd"


def authorize_url(creds: Credentials, base: str = "", **extra: str) -> str:
    client = creds.clients[0]
    query = {"client_id": client["client_id"], "redirect_uri": client["redirect_uris"][0], **extra}
    return f"{base}/oauth/authorize/?{urlencode(query)}"


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


class Pages:
    """Clicks through the authorize pages over HTTP, as a browser without JavaScript would:
    cookies kept by the httpx client, forms posted with their CSRF token and action URL."""

    def __init__(self, api: httpx.Client, url: str) -> None:
        self.api = api
        self.response = api.get(url)

    @property
    def text(self) -> str:
        return self.response.text

    def form(self) -> tuple[str, str]:
        action = re.search(r'<form method="post" action="([^"]+)"', self.text)
        csrf = re.search(r'name="csrf" value="([^"]+)"', self.text)
        assert action and csrf, self.text
        return html.unescape(action.group(1)), html.unescape(csrf.group(1))

    def submit(self, action: str, **fields: Any) -> httpx.Response:
        url, csrf = self.form()
        self.response = self.api.post(url, data={"csrf": csrf, "action": action, **fields})
        return self.response

    def log_in(self, email: str = ALEX, password: str = PASSWORD, otp: str | None = "111111") -> None:
        self.submit("login", email=email, password=password)
        if otp is not None:
            self.submit("two_factor", otp=otp)

    def link(self, profile_id: int, email: str = ALEX) -> httpx.Response:
        """Log in, pass 2FA, choose the profile and approve: the redirect response."""
        self.log_in(email)
        self.submit("choose_profile", profile_id=str(profile_id))
        return self.submit("approve", profile_id=str(profile_id))
