"""Who may use the control plane (`ControlGuard`, issue 15 items 1 and 2): the admin token exactly,
never an empty one; from loopback, only requests a web page cannot forge: a known `Host` (DNS
rebinding), no cross-site `Origin` / `Sec-Fetch-Site` on writes (CSRF), and JSON bodies (a page
can post text/plain or a form anywhere; JSON needs a CORS preflight the control plane never grants)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from mockwise._domain.sandbox import Sandbox
from mockwise._domain.tenant import Tenant
from mockwise._http.app import create_app
from mockwise._transport.inprocess import SyncASGITransport

C = "/_mockwise"
REMOTE = ("203.0.113.9", 4000)
NEW_CLIENT = b'{"client_id": "planted", "client_secret": "chosen-by-the-attacker"}'


def client(
    sandbox: Sandbox,
    *,
    admin_token: str | None = None,
    hosts: tuple[str, ...] | None = ("sandbox.test",),
    peer: tuple[str, int] = ("127.0.0.1", 50000),
    base_url: str = "https://127.0.0.1:8443",
) -> httpx.Client:
    app = create_app(sandbox, admin_token=admin_token, hosts=hosts)
    return httpx.Client(transport=SyncASGITransport(app, client=peer), base_url=base_url)


@pytest.fixture
def local(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with client(sandbox) as http:
        yield http


def planted(tenant: Tenant) -> bool:
    return "planted" in tenant.directory.clients


# 1. The admin token ----------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["", "   "], ids=["empty", "blank"])
@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer ", "Bearer", "bearer  "],
    ids=["none", "empty", "bearer-space", "bearer", "spaces"],
)
def test_an_empty_admin_token_opens_nothing(
    sandbox: Sandbox, tenant: Tenant, token: str, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    with client(sandbox, admin_token=token, peer=REMOTE) as remote:
        listed = remote.get(f"{C}/tenants", headers=headers)
        reset = remote.post(f"{C}/reset", headers=headers)
        made = remote.post(f"{C}/tenants/{tenant.id}/clients", content=NEW_CLIENT, headers=headers)
    assert listed.status_code == reset.status_code == made.status_code == 403
    assert listed.json() == {
        "error": "forbidden",
        "message": "the control plane answers loopback callers only; start mockwise with --admin-token",
    }
    assert not planted(tenant)


@pytest.mark.parametrize(
    "authorization",
    [
        "s3cret-admin",
        "Basic s3cret-admin",
        "Bearer  s3cret-admin",
        "Bearers3cret-admin",
        "Bearer s3cret-admin2",
    ],
    ids=["no scheme", "basic", "two spaces", "no space", "longer"],
)
def test_the_admin_token_is_parsed_strictly(sandbox: Sandbox, authorization: str) -> None:
    with client(sandbox, admin_token="s3cret-admin", peer=REMOTE) as remote:
        refused = remote.get(f"{C}/tenants", headers={"Authorization": authorization})
    assert refused.status_code == 403
    assert (
        refused.json()["message"] == "the control plane needs the admin token: Authorization: Bearer <token>"
    )


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_the_admin_token_opens_the_control_plane_from_anywhere(sandbox: Sandbox, scheme: str) -> None:
    with client(sandbox, admin_token=" s3cret-admin ", peer=REMOTE) as remote:
        answer = remote.get(f"{C}/tenants", headers={"Authorization": f"{scheme} s3cret-admin"})
        # a token holder is no web page: another Host and an Origin do not matter
        elsewhere = remote.get(
            f"{C}/tenants",
            headers={"Authorization": f"{scheme} s3cret-admin", "Host": "mock.internal", "Origin": "null"},
        )
    assert answer.status_code == elsewhere.status_code == 200


# 2. Cross-site requests and DNS rebinding ------------------------------------------------------


def test_a_cross_site_text_plain_post_plants_nothing(local: httpx.Client, tenant: Tenant) -> None:
    """The attack: a page on evil.example posts text/plain (no preflight) to the loopback sandbox."""
    answer = local.post(
        f"{C}/tenants/{tenant.id}/clients",
        content=NEW_CLIENT,
        headers={
            "Content-Type": "text/plain",
            "Origin": "https://evil.example",
            "Sec-Fetch-Site": "cross-site",
        },
    )
    assert answer.status_code == 403
    assert answer.json() == {
        "error": "cross_site",
        "message": "the control plane refuses writes from another site's pages (Origin, Sec-Fetch-Site)",
    }
    assert not planted(tenant)


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://127.0.0.1:8443"},  # another scheme: another origin
        {"Origin": "https://127.0.0.1:9999"},  # another port
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},  # e.g. a dev server on another localhost port
        {"Origin": "https://evil.example@127.0.0.1:8443"},  # userinfo: a URL parser reads past it
        {"Origin": "https://127.0.0.1:8443@evil.example"},
    ],
    ids=[
        "other site",
        "null",
        "other scheme",
        "other port",
        "cross-site",
        "same-site",
        "userinfo",
        "userinfo-2",
    ],
)
@pytest.mark.parametrize("write", ["clients", "reset", "faults"])
def test_writes_from_another_origin_are_refused(
    local: httpx.Client, tenant: Tenant, headers: dict[str, str], write: str
) -> None:
    path, body = {
        "clients": (f"{C}/tenants/{tenant.id}/clients", {"client_id": "planted"}),
        "reset": (f"{C}/reset", None),
        "faults": (f"{C}/tenants/{tenant.id}/faults", {"kind": "server_error"}),
    }[write]
    answer = local.post(path, json=body, headers=headers)
    assert answer.status_code == 403 and answer.json()["error"] == "cross_site"
    assert not planted(tenant) and not tenant.faults


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Origin": "https://127.0.0.1:8443", "Sec-Fetch-Site": "same-origin"},  # the dashboard's own fetch
        {"Origin": "https://127.0.0.1", "Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "none"},  # typed by the user
    ],
    ids=["no browser", "dashboard", "default port", "user typed"],
)
def test_same_origin_and_non_browser_writes_are_served(
    sandbox: Sandbox, tenant: Tenant, headers: dict[str, str]
) -> None:
    base = "https://127.0.0.1" if headers.get("Origin") == "https://127.0.0.1" else "https://127.0.0.1:8443"
    with client(sandbox, base_url=base) as http:
        made = http.post(f"{C}/tenants/{tenant.id}/clients", json={"client_id": "planted"}, headers=headers)
    assert made.status_code == 201 and planted(tenant)


def test_a_cross_site_read_is_served_as_a_page(local: httpx.Client) -> None:
    """Reads change nothing and another origin cannot read the answer (no CORS headers): a link
    to the dashboard from another page still opens it."""
    answer = local.get(f"{C}/", headers={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"})
    assert answer.status_code == 200 and "access-control-allow-origin" not in answer.headers


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None],
    ids=["text", "form", "multipart", "none"],
)
def test_a_write_body_must_be_json(local: httpx.Client, tenant: Tenant, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    answer = local.post(f"{C}/tenants/{tenant.id}/clients", content=NEW_CLIENT, headers=headers)
    assert answer.status_code == 415
    assert answer.json() == {
        "error": "unsupported_media_type",
        "message": "control-plane writes take JSON: send Content-Type: application/json "
        "(curl: -H 'Content-Type: application/json')",
    }
    assert not planted(tenant)


def test_json_with_a_charset_and_bodiless_writes_are_served(local: httpx.Client, tenant: Tenant) -> None:
    made = local.post(
        f"{C}/tenants/{tenant.id}/clients",
        content=NEW_CLIENT,
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert made.status_code == 201 and planted(tenant)
    assert local.post(f"{C}/tenants/{tenant.id}/clock/freeze").status_code == 200  # `curl -X POST`
    assert tenant.clock.frozen


@pytest.mark.parametrize(
    "host",
    [
        "attacker.example",
        "attacker.example:8443",
        "127.0.0.1.attacker.example",
        "localhost:80@attacker.example",  # userinfo: a parser that splits on ':' sees localhost
        "attacker.example@localhost",
        "user@127.0.0.1:8443",
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_an_unknown_host_is_refused_even_from_loopback(
    local: httpx.Client, tenant: Tenant, host: str, method: str
) -> None:
    """DNS rebinding: attacker.example re-resolved to 127.0.0.1 makes the page same-origin with the
    sandbox; its requests still say `Host: attacker.example`."""
    answer = local.request(method, f"{C}/tenants/{tenant.id}/clients", json={}, headers={"Host": host})
    assert answer.status_code == 403
    assert answer.json() == {
        "error": "unknown_host",
        "message": f"Host {host!r} is not a name of this sandbox (a DNS rebinding page?); start mockwise "
        "with --server-name for another name",
    }
    assert len(tenant.directory.clients) == 1


@pytest.mark.parametrize(
    "host",
    ["localhost", "LOCALHOST:8443", "127.0.0.1:8443", "[::1]:8443", "sandbox.test", "Sandbox.Test.:443"],
)
def test_known_hosts_are_served(local: httpx.Client, host: str) -> None:
    assert local.get(f"{C}/tenants", headers={"Host": host}).status_code == 200


def test_an_in_process_app_checks_no_host(sandbox: Sandbox) -> None:
    with client(sandbox, hosts=None, base_url="http://testserver") as http:
        assert http.get(f"{C}/tenants").status_code == 200
