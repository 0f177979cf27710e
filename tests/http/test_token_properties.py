"""Property: whatever arrives at the token endpoint, the answer is Wise-shaped and never a 500."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockwise._domain.errors import OAuthError
from mockwise._domain.sandbox import Sandbox
from mockwise._http.app import create_app
from mockwise._http.forms import MAX_FIELDS, urlencoded_pairs
from mockwise._transport.inprocess import SyncASGITransport

SANDBOX = Sandbox()
TENANT, CREDS = SANDBOX.create_tenant()
CLIENT_ID, SECRET = CREDS.clients[0]["client_id"], CREDS.clients[0]["client_secret"]
API = httpx.Client(transport=SyncASGITransport(create_app(SANDBOX)), base_url="https://api.wise-sandbox.com")
USER = next(u for u in CREDS.users if u.get("registration_code"))

ascii_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60)
any_text = st.text(max_size=80)
param_names = st.sampled_from(
    ["grant_type", "client_id", "client_secret", "code", "redirect_uri", "refresh_token", "email",
     "registration_code", "scope"]
) | any_text  # fmt: skip
param_values = (
    st.sampled_from(
        ["client_credentials", "registration_code", "authorization_code", "refresh_token", "password",
         CLIENT_ID, USER["email"], USER["registration_code"], ""]
    )
    | any_text
)  # fmt: skip


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


authorization = st.one_of(
    st.none(),
    st.just(basic(CLIENT_ID, SECRET)),
    st.just(basic(CLIENT_ID, SECRET)),
    st.just(basic(CLIENT_ID, SECRET)),
    st.builds(basic, st.sampled_from([CLIENT_ID, "x", ""]) | ascii_text, ascii_text),
    st.builds(lambda t: "Basic " + t, ascii_text),
    st.builds(lambda t: "Bearer " + t, ascii_text),
    ascii_text,
)
content_types = st.one_of(
    st.none(),
    st.just("application/x-www-form-urlencoded"),
    st.just("application/x-www-form-urlencoded"),
    st.sampled_from(
        ["application/x-www-form-urlencoded", "application/x-www-form-urlencoded;charset=UTF-8",
         "multipart/form-data; boundary=xyz", "multipart/form-data", "application/json", "text/plain"]
    ),
    ascii_text,
)  # fmt: skip
plausible_forms = st.fixed_dictionaries(
    {
        "grant_type": st.sampled_from(
            ["client_credentials", "registration_code", "authorization_code", "refresh_token"]
        )
    },
    optional={
        "client_id": st.just(CLIENT_ID) | any_text,
        "email": st.just(USER["email"]) | any_text,
        "registration_code": st.just(USER["registration_code"]) | any_text,
        "code": any_text,
        "redirect_uri": st.just(CREDS.clients[0]["redirect_uris"][0]) | any_text,
        "refresh_token": any_text,
    },
)
bodies = st.one_of(
    plausible_forms.map(lambda d: urlencode(d).encode()),
    plausible_forms.map(lambda d: urlencode(d).encode()),
    st.dictionaries(param_names, param_values, max_size=6).map(lambda d: urlencode(d).encode()),
    st.binary(max_size=300),
    st.builds(
        lambda name, value: (
            f'--xyz\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n--xyz--\r\n'.encode(
                "utf-8", "surrogatepass"
            )
        ),
        param_names,
        param_values,
    ),
)
methods = st.sampled_from(["POST"] * 12 + ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"])
paths = st.sampled_from(["/oauth/token"] * 8 + ["/2026Q3/oauth/token", "/oauth/token/", "/OAUTH/token"])


def is_wise_shaped(status: int, body: Any) -> bool:
    if not isinstance(body, dict):
        return False
    if status == 200:
        return body.get("token_type") == "bearer" and isinstance(body.get("access_token"), str)
    if {"error", "error_description"} <= set(body):
        return True
    if "errors" in body:
        return isinstance(body["errors"], list)
    return {"timestamp", "status", "error", "message", "path"} <= set(body) and body["status"] == status


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(method=methods, path=paths, auth=authorization, content_type=content_types, body=bodies)
def test_token_endpoint_never_fails_and_always_answers_like_wise(
    method: str, path: str, auth: str | None, content_type: str | None, body: bytes
) -> None:
    headers = {}
    if auth is not None:
        headers["Authorization"] = auth
    if content_type is not None:
        headers["Content-Type"] = content_type
    response = API.request(method, path, headers=headers, content=body)
    assert response.status_code < 500, response.text
    assert response.headers["x-trace-id"]
    if method == "HEAD":
        return
    assert response.headers["content-type"].startswith("application/json")
    assert is_wise_shaped(response.status_code, response.json()), (response.status_code, response.text)


@settings(max_examples=300, deadline=None)
@given(form=plausible_forms, multipart=st.booleans())
def test_plausible_grant_requests_get_tokens_or_oauth_errors(form: dict[str, str], multipart: bool) -> None:
    if multipart:
        response = API.post(
            "/oauth/token", auth=(CLIENT_ID, SECRET), files={k: (None, v) for k, v in form.items()}
        )
    else:
        response = API.post("/oauth/token", auth=(CLIENT_ID, SECRET), data=form)
    body = response.json()
    if response.status_code == 200:
        assert body["token_type"] == "bearer" and body["expires_in"] == 43199
        assert ("refresh_token" in body) == (form["grant_type"] != "client_credentials")
    else:
        assert response.status_code in (400, 401), response.text
        assert set(body) == {"error", "error_description"}
        assert body["error"] in {
            "invalid_request",
            "invalid_grant",
            "invalid_client",
            "unsupported_grant_type",
        }


form_pieces = st.sampled_from(["a", "grant_type", "=", "&", "%", "+", "%41", "%C3%A9", "%zz", "é", ";", " "])
form_text = st.lists(form_pieces | any_text, max_size=30).map("".join)


@given(text=form_text)
def test_form_bodies_read_as_parse_qsl_reads_them(text: str) -> None:
    """The quick split of a form with nothing to unescape reads what `parse_qsl` reads."""
    expected = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="replace")
    assert urlencoded_pairs(text) == expected


def test_a_form_of_more_than_max_fields_is_refused() -> None:
    assert len(urlencoded_pairs("&".join(["a=b"] * MAX_FIELDS))) == MAX_FIELDS
    with pytest.raises(OAuthError, match="Too many parameters"):
        urlencoded_pairs("&".join(["a=b"] * (MAX_FIELDS + 1)))
