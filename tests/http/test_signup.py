"""User creation over API (§4)."""

from __future__ import annotations

import httpx
import pytest

from mockwise._domain.seed import Credentials
from tests.helpers import bearer, client_credentials, error, partner, registration_tokens, token

SIGNUP = "/v1/user/signup/registration_code"
CODE = "7c1b1b34-6a5e-4c7e-9a0b-2e4b0c9d8f11"


@pytest.fixture
def cc(api: httpx.Client, creds: Credentials) -> dict[str, str]:
    return bearer(client_credentials(api, creds))


def test_create_then_get_tokens_with_the_registration_code(
    api: httpx.Client, creds: Credentials, cc: dict[str, str]
) -> None:
    response = api.post(SIGNUP, headers=cc, json={"email": "new.user@domain.com", "registrationCode": CODE})
    assert response.status_code == 200  # not 201 (§4)
    body = response.json()
    assert body == {
        "id": body["id"],
        "name": None,
        "email": "new.user@domain.com",
        "active": True,
        "details": None,
    }
    tokens = token(
        api,
        creds,
        grant_type="registration_code",
        client_id=partner(creds)[0],
        email="new.user@domain.com",
        registration_code=CODE,
    )
    assert api.get("/v1/me", headers=bearer(tokens["access_token"])).json()["id"] == body["id"]
    assert api.post("/v1/users/exists", headers=cc, json={"email": "NEW.user@domain.com"}).json() == {
        "exists": True
    }
    assert api.post("/v1/users/exists", headers=cc, json={"email": "nobody@domain.com"}).json() == {
        "exists": False
    }


def test_existing_email_is_409_not_unique(api: httpx.Client, creds: Credentials, cc: dict[str, str]) -> None:
    email = creds.users[0]["email"]
    response = api.post(SIGNUP, headers=cc, json={"email": email, "registrationCode": CODE})
    assert response.status_code == 409
    assert response.json() == {
        "errors": [
            {
                "code": "NOT_UNIQUE",
                "message": "You're already a member. Please login",
                "path": "email",
                "arguments": ["email", "class com.transferwise.fx.api.ApiRegisterCommand", email],
            }
        ]
    }


def test_missing_fields_are_notnull_errors(api: httpx.Client, cc: dict[str, str]) -> None:
    response = api.post(SIGNUP, headers=cc, json={})
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"code": "NotNull", "message": "must not be null", "path": "email", "arguments": []},
        {"code": "NotNull", "message": "must not be null", "path": "registrationCode", "arguments": []},
    ]


def test_short_registration_code_is_a_size_error(api: httpx.Client, cc: dict[str, str]) -> None:
    response = api.post(SIGNUP, headers=cc, json={"email": "a@b.com", "registrationCode": "x" * 31})
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "code": "Size",
            "message": "size must be between 32 and 2147483647",
            "path": "registrationCode",
            "arguments": ["2147483647", "32"],
        }
    ]


@pytest.mark.parametrize("email", ["not-an-email", "a@b", "two@@example.com", "spaces in@example.com"])
def test_bad_email_is_422(api: httpx.Client, cc: dict[str, str], email: str) -> None:
    response = api.post(SIGNUP, headers=cc, json={"email": email, "registrationCode": CODE})
    assert response.status_code == 422
    assert response.json()["errors"][0] == {
        "code": "ERROR",
        "message": "Please provide a valid email",
        "path": "email",
        "arguments": ["email", email],
    }


def test_bad_language(api: httpx.Client, cc: dict[str, str]) -> None:
    response = api.post(
        SIGNUP, headers=cc, json={"email": "a@b.com", "registrationCode": CODE, "language": "XX"}
    )
    assert response.status_code == 400 and response.json()["errors"][0]["path"] == "language"


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b"\xff\xfe", b""])
def test_malformed_json_is_a_spring_400(api: httpx.Client, cc: dict[str, str], body: bytes) -> None:
    response = api.post(SIGNUP, headers=cc | {"Content-Type": "application/json"}, content=body)
    assert response.status_code == 400
    assert response.json()["error"] == "Bad Request" and response.json()["path"] == SIGNUP


def test_needs_a_client_credentials_token(api: httpx.Client, creds: Credentials) -> None:
    assert error(api.post(SIGNUP, json={"email": "a@b.com", "registrationCode": CODE}))[0] == 401
    user_token = registration_tokens(api, creds)["access_token"]
    response = api.post(
        SIGNUP, headers=bearer(user_token), json={"email": "a@b.com", "registrationCode": CODE}
    )
    assert response.status_code == 403
    personal = creds.personal_tokens[0]["token"]
    assert (
        api.post("/v1/users/exists", headers=bearer(personal), json={"email": "a@b.com"}).status_code == 403
    )
