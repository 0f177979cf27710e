"""Personal-token PSD2 limits (Wise auth-and-security page): no statements, no funding, for EU/UK
customers."""

from __future__ import annotations

import httpx

from mockwise._domain.seed import Credentials
from mockwise._domain.tenant import Tenant
from tests.helpers import bearer, user_token


def statement_path(profile: dict[str, object]) -> str:
    balance = profile["balances"][0]["id"]  # type: ignore[index]
    return f"/v1/profiles/{profile['id']}/balance-statements/{balance}/statement.json"


def personal(creds: Credentials, index: int) -> dict[str, str]:
    return bearer(creds.personal_tokens[index]["token"])


def test_eu_personal_token_cannot_read_statements(api: httpx.Client, creds: Credentials) -> None:
    lena = creds.users[1]
    assert lena["country"] == "DE"
    response = api.get(statement_path(lena["profiles"][0]), headers=personal(creds, 1))
    assert response.status_code == 403
    assert "PSD2" in response.json()["message"]


def test_eu_personal_token_cannot_fund_transfers(api: httpx.Client, creds: Credentials) -> None:
    pid = creds.users[1]["profiles"][0]["id"]
    response = api.post(
        f"/v3/profiles/{pid}/transfers/123/payments", headers=personal(creds, 1), json={"type": "BALANCE"}
    )
    assert response.status_code == 403 and "PSD2" in response.json()["message"]


def test_non_eu_personal_token_reads_statements(api: httpx.Client, creds: Credentials) -> None:
    alex = creds.users[0]
    response = api.get(
        statement_path(alex["profiles"][0]) + "?currency=USD&type=COMPACT", headers=personal(creds, 0)
    )
    assert response.status_code == 200
    body = response.json()
    assert body["endOfStatementBalance"] == {"value": 2500.0, "currency": "USD"}
    assert body["query"]["profileId"] == alex["profiles"][0]["id"]


def test_an_oauth_user_token_of_an_eu_user_reads_statements(
    api: httpx.Client, creds: Credentials, tenant: Tenant
) -> None:
    lena = creds.users[1]
    access = user_token(api, tenant, creds, lena["email"], lena["profiles"][0]["id"])
    assert api.get(statement_path(lena["profiles"][0]), headers=bearer(access)).status_code == 200
    pid = lena["profiles"][0]["id"]
    funded = api.post(
        f"/v3/profiles/{pid}/transfers/1/payments", headers=bearer(access), json={"type": "BALANCE"}
    )
    assert funded.status_code == 201 and funded.json()["status"] == "COMPLETED"


def test_statement_errors(api: httpx.Client, creds: Credentials) -> None:
    alex = creds.users[0]
    pid = alex["profiles"][0]["id"]
    assert (
        api.get(
            f"/v1/profiles/{pid}/balance-statements/1/statement.json", headers=personal(creds, 0)
        ).status_code
        == 404
    )
    bad_interval = api.get(
        statement_path(alex["profiles"][0]) + "?intervalStart=yesterday", headers=personal(creds, 0)
    )
    assert bad_interval.status_code == 400 and bad_interval.json()["errors"][0]["path"] == "intervalStart"
    lena_profile = creds.users[1]["profiles"][0]
    assert api.get(statement_path(lena_profile), headers=personal(creds, 0)).status_code == 403
