"""Real-browser fixtures: mockwise on a real socket, the partner's own callback server, and
Debian's chromium driven by Playwright (never a downloaded browser).

The tests skip only when chromium (or Playwright) is missing AND `MOCKWISE_REQUIRE_BROWSER` is
unset; CI sets it, so there a missing browser fails. A failing test leaves a screenshot in
`test-artifacts/`.
"""

from __future__ import annotations

import html
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from mockwise._domain.sandbox import Sandbox
from mockwise._domain.tenant import ClientCredentials, Tenant
from mockwise._http.app import create_app
from mockwise._transport.sockets import Listener
from tests.helpers import serving

CHROMIUM = Path(os.environ.get("MOCKWISE_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _browser_missing() -> str | None:
    if not CHROMIUM.exists():
        return f"chromium not found at {CHROMIUM}"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    missing = _browser_missing()
    here = Path(__file__).parent
    for item in items:
        if here not in Path(str(item.fspath)).parents:
            continue
        item.add_marker(pytest.mark.browser)
        if missing is not None and not os.environ.get("MOCKWISE_REQUIRE_BROWSER"):
            item.add_marker(
                pytest.mark.skip(reason=f"{missing} (set MOCKWISE_REQUIRE_BROWSER=1 to fail instead)")
            )


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report


FAILED = pytest.StashKey[bool]()


@pytest.fixture(scope="module")  # not the session's: Playwright's sync API keeps an event loop
def browser() -> Iterator[Any]:  # running in this thread while open, and asyncio.run then fails elsewhere
    missing = _browser_missing()
    if missing is not None:
        pytest.fail(f"MOCKWISE_REQUIRE_BROWSER is set but {missing}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def server() -> Iterator[tuple[Sandbox, str]]:
    sandbox = Sandbox()
    with serving(create_app(sandbox), Listener("api")) as runner:
        yield sandbox, runner.listeners[0].url


@dataclass
class Callback:
    """The partner's redirect URI: records what arrives, exchanges the code, calls /v1/me."""

    url: str
    api_url: str = ""
    client: ClientCredentials | None = None
    received: list[dict[str, str]] = field(default_factory=list)
    me: dict[str, Any] | None = None
    tokens: dict[str, Any] | None = None


def _handler(callback: Callback) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path != urlsplit(callback.url).path:  # e.g. the browser's /favicon.ico
                self.send_error(404)
                return
            query = dict(parse_qsl(url.query, keep_blank_values=True))
            callback.received.append(query)
            if "code" in query and callback.client is not None:
                exchanged = requests.post(
                    f"{callback.api_url}/oauth/token",
                    auth=(callback.client.client_id, callback.client.client_secret),
                    data={
                        "grant_type": "authorization_code",
                        "code": query["code"],
                        "redirect_uri": callback.url,
                    },
                    timeout=10,
                )
                callback.tokens = exchanged.json()
                me = requests.get(
                    f"{callback.api_url}/v1/me",
                    headers={"Authorization": f"Bearer {callback.tokens.get('access_token')}"},
                    timeout=10,
                )
                callback.me = me.json()
                text = f"Linked {callback.me.get('email')}"
            else:
                text = f"Not linked: {query.get('error', 'no code')}"
            body = f'<!doctype html><title>Partner</title><h1 id="result">{html.escape(text)}</h1>'.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def callback(server: tuple[Sandbox, str]) -> Iterator[Callback]:
    result = Callback(url="")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(result))
    result.url = f"http://127.0.0.1:{httpd.server_address[1]}/wise/callback"
    result.api_url = server[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield result
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


@pytest.fixture
def linked_tenant(server: tuple[Sandbox, str], callback: Callback) -> Iterator[Tenant]:
    """A fresh tenant whose partner client redirects to this test's callback server."""
    sandbox, _ = server
    tenant, _ = sandbox.create_tenant()
    callback.client = tenant.add_client(name="Browser Test Bank", redirect_uris=[callback.url])
    yield tenant
    sandbox.delete_tenant(tenant.id)


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(java_script_enabled=getattr(request, "param", True))
    opened = context.new_page()
    opened.set_default_timeout(10_000)
    yield opened
    if request.node.stash.get(FAILED, False):
        ARTIFACTS.mkdir(exist_ok=True)
        name = "".join(c if c.isalnum() or c in "-_" else "_" for c in request.node.name)
        opened.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        (ARTIFACTS / f"{name}.html").write_text(opened.content(), encoding="utf-8")
    context.close()


def dump(value: Any) -> str:
    return json.dumps(value, indent=2, default=str)
