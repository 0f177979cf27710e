"""Small helpers for mockwise's own HTTP tests."""

from __future__ import annotations

from typing import Any

import httpx

from mockwise.domain.seed import Credentials


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def partner(creds: Credentials) -> tuple[str, str]:
    client = creds.clients[0]
    return client["client_id"], client["client_secret"]


def created_user(creds: Credentials) -> dict[str, Any]:
    """The seed's user created over API by the partner (it has a registration code)."""
    return next(u for u in creds.users if u.get("registration_code"))


def token(api: httpx.Client, creds: Credentials, **form: str) -> Any:
    response = api.post("/oauth/token", auth=partner(creds), data=form)
    assert response.status_code == 200, response.text
    return response.json()


def client_credentials(api: httpx.Client, creds: Credentials) -> str:
    return str(token(api, creds, grant_type="client_credentials")["access_token"])


def registration_tokens(api: httpx.Client, creds: Credentials) -> Any:
    user = created_user(creds)
    return token(
        api,
        creds,
        grant_type="registration_code",
        client_id=creds.clients[0]["client_id"],
        email=user["email"],
        registration_code=user["registration_code"],
    )


def error(response: Any) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["error"], body["error_description"]
