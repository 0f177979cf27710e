"""The control plane against a real browser (issue 15 item 2): the dashboard's own buttons work,
while a page of another site (CSRF) or a DNS-rebinding name cannot drive it. The sandbox is served
as `mockwise serve` serves it: on 127.0.0.1, answering to its own names only."""

from __future__ import annotations

import html
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from mockwise._domain.sandbox import Sandbox
from mockwise._http.app import create_app
from mockwise._transport.sockets import Listener
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.helpers import serving


@pytest.fixture(scope="module")
def guarded() -> Iterator[tuple[Sandbox, str]]:
    sandbox = Sandbox()
    with serving(create_app(sandbox, hosts=()), Listener("api")) as runner:
        yield sandbox, runner.listeners[0].url


@pytest.fixture
def evil_site() -> Iterator[dict[str, str]]:
    """Another site (`localhost` is another host than the sandbox's `127.0.0.1`) serving `page["html"]`."""
    page: dict[str, str] = {"html": ""}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = page["html"].encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    page["url"] = f"http://localhost:{httpd.server_address[1]}/"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield page
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def test_the_dashboard_buttons_still_work(page: Any, guarded: tuple[Sandbox, str]) -> None:
    sandbox, url = guarded
    tenant, _ = sandbox.create_tenant()
    page.goto(f"{url}/_mockwise/tenants/{tenant.id}/dashboard")
    with page.expect_response(lambda r: r.url.endswith("/clock/advance")) as advanced:
        page.get_by_role("button", name="+1 hour").click()
    assert advanced.value.status == 200
    assert 3599 <= tenant.clock.offset <= 3601
    with page.expect_response(lambda r: r.url.endswith("/clock/freeze")) as frozen:
        page.get_by_role("button", name="Freeze").click()
    assert frozen.value.status == 200 and tenant.clock.frozen


def test_another_sites_page_cannot_drive_the_control_plane(
    page: Any, guarded: tuple[Sandbox, str], evil_site: dict[str, str]
) -> None:
    """What the attack did: a text/plain fetch (no preflight) and a text/plain form, both carrying
    JSON, from a page the developer happens to have open."""
    sandbox, url = guarded
    tenant, _ = sandbox.create_tenant()
    target = f"{url}/_mockwise/tenants/{tenant.id}"
    evil_site["html"] = f"""<!doctype html><title>cat pictures</title>
<form id="plant" method="post" enctype="text/plain" action="{html.escape(target)}/clients">
<input name='{{"client_id": "planted", "client_secret": "chosen", "x": "' value='"}}'></form>
<script>
fetch("{target}/faults", {{method: "POST", mode: "no-cors", headers: {{"Content-Type": "text/plain"}},
  body: '{{"kind": "server_error"}}'}}).then(() => {{ document.title = "sent"; }});
</script>"""
    page.goto(evil_site["url"])
    page.wait_for_function("document.title === 'sent'")
    with page.expect_response(lambda r: r.url.endswith("/clients")) as posted:
        page.evaluate("document.getElementById('plant').submit()")
    assert posted.value.status == 403 and posted.value.json()["error"] == "cross_site"
    assert "planted" not in tenant.directory.clients and not tenant.faults


def test_a_dns_rebinding_name_cannot_read_or_write(browser: Any, guarded: tuple[Sandbox, str]) -> None:
    """`attacker.test` resolving to 127.0.0.1 makes its page same-origin with the sandbox; the
    browser still sends `Host: attacker.test`."""
    sandbox, url = guarded
    tenant, _ = sandbox.create_tenant()
    port = url.rsplit(":", 1)[1]
    rebound = f"http://attacker.test:{port}/_mockwise"
    rebinding = browser.browser_type.launch(  # a browser whose DNS says what the attacker's says
        executable_path=str(CHROMIUM),
        headless=True,
        args=[*CHROMIUM_ARGS, "--host-resolver-rules=MAP attacker.test 127.0.0.1"],
    )
    try:
        page = rebinding.new_page()
        read = page.goto(f"{rebound}/tenants")
        assert read is not None and read.status == 403
        assert "unknown_host" in page.content() and tenant.id not in page.content()
        written = page.evaluate(
            """async (target) => (await fetch(target, {method: "POST",
                headers: {"Content-Type": "application/json"}, body: "{}"})).status""",
            f"{rebound}/reset",
        )
        assert written == 403
    finally:
        rebinding.close()
