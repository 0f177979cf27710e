"""The console request log (`mockwise serve`, unless `--quiet`): one line per request with what a
person debugging needs, and never a secret: no client secret, password, token, code or query
string, whatever the request carried and wherever it carried it."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import httpx
import pytest

from mockwise._domain.entries import Entry
from mockwise._domain.sandbox import Sandbox
from mockwise._domain.seed import Credentials
from mockwise._domain.tenant import Tenant
from mockwise._http.app import create_app
from mockwise._standalone.requestlog import RequestLog, line
from mockwise._transport.inprocess import SyncASGITransport
from tests.helpers import bearer, client_credentials, created_user, partner, registration_tokens

LINE = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} (\S+) +([A-Z]+) +(\S+) (\d{3}) [\d.]+ms(.*)$")


@pytest.fixture
def console(sandbox: Sandbox) -> io.StringIO:
    out = io.StringIO()
    sandbox.journal_listeners.append(RequestLog(out))
    return out


@pytest.fixture
def logged_api(sandbox: Sandbox, console: io.StringIO) -> Iterator[httpx.Client]:
    with httpx.Client(transport=SyncASGITransport(create_app(sandbox)), base_url="https://api.test") as api:
        yield api


def lines(console: io.StringIO) -> list[str]:
    return console.getvalue().splitlines()


def test_one_line_per_request_with_what_matters(
    logged_api: httpx.Client, console: io.StringIO, seeded: tuple[Tenant, Credentials]
) -> None:
    tenant, creds = seeded
    token = client_credentials(logged_api, creds)
    tenant.clock.advance(12 * 3600)
    logged_api.post("/v1/users/exists", headers=bearer(token), json={"email": "a@b.c"})
    tenant.faults.add("server_error", path="/oauth/token")
    logged_api.post("/oauth/token", auth=partner(creds), data={"grant_type": "client_credentials"})
    logged_api.get("/v1/me", headers=bearer("not-a-token"))

    first, expired, faulted, unknown = (LINE.match(text) for text in lines(console))
    assert first and first.groups() == (tenant.id, "POST", "/oauth/token", "200", " grant=client_credentials")
    assert expired and expired.groups()[1:4] == ("POST", "/v1/users/exists", "401")
    assert expired.group(5) == " invalid_token token=client_credentials:expired"
    assert faulted and faulted.group(4) == "500" and "fault=server_error" in faulted.group(5)
    assert unknown and unknown.group(1) == "-" and unknown.group(5) == " invalid_token token=unknown"


def test_the_log_never_shows_a_secret(
    logged_api: httpx.Client, console: io.StringIO, seeded: tuple[Tenant, Credentials]
) -> None:
    tenant, creds = seeded
    client_id, client_secret = partner(creds)
    user = created_user(creds)
    tokens = registration_tokens(logged_api, creds)
    refreshed = logged_api.post(
        "/oauth/token?refresh_token=IN-THE-QUERY&password=QUERY-PASSWORD",
        auth=(client_id, client_secret),
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    ).json()
    logged_api.get("/v1/me", headers=bearer(refreshed["access_token"]))
    logged_api.get("/v1/me", headers=bearer(creds.personal_tokens[0]["token"]))
    logged_api.post(  # secrets in the body of a refused request, and in the wrong place
        "/oauth/token",
        data={"grant_type": "password", "username": "alex", "password": "sandbox-Passw0rd"},
        auth=(client_id, "a-wrong-secret-value"),
    )
    code = tenant.issue_code(client_id, creds.clients[0]["redirect_uris"][0], "alex.morgan@example.com", None)
    logged_api.post(
        "/oauth/token",
        auth=(client_id, client_secret),
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": "https://elsewhere.test/"},
    )
    text = console.getvalue()
    assert len(lines(console)) == 6 and all(LINE.match(each) for each in lines(console))
    secrets = [
        client_secret,
        "a-wrong-secret-value",
        user["registration_code"],
        tokens["access_token"],
        tokens["refresh_token"],
        refreshed["access_token"],
        creds.personal_tokens[0]["token"],
        "sandbox-Passw0rd",
        code,
        "IN-THE-QUERY",
        "QUERY-PASSWORD",
    ]
    assert [secret for secret in secrets if secret in text] == []
    assert "?" not in text and "=IN" not in text


def test_a_path_cannot_forge_a_line_or_colour_the_terminal(
    logged_api: httpx.Client, console: io.StringIO
) -> None:
    logged_api.get("/v1/x%0A12:00:00.000 default  GET /forged 200%1B[31m%E2%80%AE")
    (only,) = lines(console)
    assert "\\n12:00:00.000 default" in only and "\\x1b[31m" in only and "\\u202e" in only
    assert only.isascii() and only.isprintable()


def test_a_long_path_is_clipped() -> None:
    shown = line("t", Entry(method="GET", path="/" + "a" * 5000, status=404, wall=1.0, done=1.001))
    assert len(shown) < 250 and "/aaa" in shown and "..." in shown


def test_a_console_that_goes_away_ends_the_log_not_the_request(
    sandbox: Sandbox, seeded: tuple[Tenant, Credentials]
) -> None:
    closed = io.StringIO()
    closed.close()
    log = RequestLog(closed)
    sandbox.journal_listeners.append(log)
    with httpx.Client(transport=SyncASGITransport(create_app(sandbox)), base_url="https://api.test") as api:
        assert client_credentials(api, seeded[1])
    assert log.closed


def test_listeners_hear_every_tenant_including_new_ones(sandbox: Sandbox) -> None:
    heard: list[tuple[str | None, int]] = []
    sandbox.journal_listeners.append(lambda tenant, entry: heard.append((tenant, entry.seq)))
    later, _ = sandbox.create_tenant("later")
    later.journal.record(Entry(method="GET", path="/v1/me"))
    sandbox.unrouted.record(Entry(method="GET", path="/v1/me"))
    assert heard == [("later", 1), (None, 1)]


def test_a_token_that_ended_early_says_why(
    logged_api: httpx.Client, console: io.StringIO, seeded: tuple[Tenant, Credentials]
) -> None:
    tenant, creds = seeded
    user = created_user(creds)
    tokens = registration_tokens(logged_api, creds)
    tenant.revoke_access(user["id"])
    logged_api.get("/v1/me", headers=bearer(tokens["access_token"]))
    last = LINE.match(lines(console)[-1])
    assert last and last.group(5) == " invalid_token token=user:revoked(user_revoked_access)"


def test_control_plane_calls_are_logged_and_marked(
    sandbox: Sandbox, seeded: tuple[Tenant, Credentials]
) -> None:
    tenant, _ = seeded
    out = io.StringIO()
    log = RequestLog(out)
    sandbox.journal_listeners.append(log)
    sandbox.control_listeners.append(log.control)
    with httpx.Client(
        transport=SyncASGITransport(create_app(sandbox)), base_url="http://127.0.0.1"
    ) as control:
        assert (
            control.post(
                f"/_mockwise/tenants/{tenant.id}/clock/advance?secret=LEAK", json={"seconds": 60}
            ).status_code
            == 200
        )
        assert (
            control.get("/_mockwise/health/").status_code == 200
        )  # a trailing slash, as the data plane takes it
        assert control.get(f"/_mockwise/tenants/{tenant.id}/settings/").status_code == 200
    advance, health, settings = (LINE.match(text) for text in lines(out))
    assert advance and advance.groups()[:4] == (
        "[control]",
        "POST",
        f"/_mockwise/tenants/{tenant.id}/clock/advance",
        "200",
    )
    assert health and health.groups()[2:4] == ("/_mockwise/health/", "200")
    assert settings and settings.group(4) == "200"
    assert "LEAK" not in out.getvalue() and not tenant.journal.select()  # no journal keeps them
