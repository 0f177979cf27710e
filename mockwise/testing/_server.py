"""What the pytest fixtures hand a test: a server for the session, and a fresh tenant per test.

`WiseServer` is the sandbox on real sockets (HTTPS on an API host and an mTLS host, free ports, a
background thread), or a `mockwise serve` already running elsewhere. `WiseSandbox` is one tenant
of it, with everything a partner's client needs (URLs, credentials, the CA, a client certificate)
and handles on the tenant's clock, scenarios, faults, journal and scripted user.
"""

from __future__ import annotations

import contextlib
import json
import re
import ssl
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from functools import cached_property
from pathlib import Path
from typing import Any

import httpx

from mockwise.testing._client import ClockClient, SandboxClient, TenantClient
from mockwise.testing._timetravel import ProcessClock
from mockwise.testing._webhooks import WebhooksClient

JSON = dict[str, Any]


class WiseServer:
    """The sandbox one test session talks to."""

    def __init__(
        self,
        control: SandboxClient,
        *,
        api_url: str,
        mtls_api_url: str,
        ca_cert: str,
        app: Any = None,
        runner: Any = None,
        files: tempfile.TemporaryDirectory[str] | None = None,
        dispatcher: Any = None,
    ) -> None:
        self.control = control
        self.dispatcher = dispatcher  # sends webhooks, when the sandbox runs in this process (§8)
        self.api_url = api_url
        self.mtls_api_url = mtls_api_url
        self.ca_cert = ca_cert
        self.app = app  # the ASGI app, when it runs in this process (for the in-process mode)
        self._runner = runner
        self._files = files
        self.started_in = 0.0

    @property
    def local(self) -> bool:
        return self.app is not None

    @property
    def authorize_url(self) -> str:
        return f"{self.api_url}/oauth/authorize/"

    @classmethod
    def start(cls) -> WiseServer:
        """A fresh sandbox on free ports of this machine, with its own CA, in a background thread."""
        began = time.perf_counter()
        from mockwise._domain.sandbox import Sandbox
        from mockwise._http.app import create_app
        from mockwise._transport.inprocess import SyncASGITransport
        from mockwise._transport.sockets import Listener, Runner

        sandbox = Sandbox()
        app = create_app(sandbox, hosts=())  # served on 127.0.0.1: its control plane takes local names only
        pki = sandbox.pki
        api = Listener("api", ssl=pki.server_context("none"))
        mtls = Listener("mtls", ssl=pki.server_context("required"))
        runner = Runner(app, [api, mtls])
        runner.start_in_thread()
        from mockwise._transport.webhooks import Dispatcher

        dispatcher = Dispatcher(sandbox).start()
        files = tempfile.TemporaryDirectory(prefix="mockwise-pytest-")
        ca = Path(files.name) / "ca.pem"
        ca.write_text(pki.ca_pem, encoding="ascii")
        control = SandboxClient(api.url, transport=SyncASGITransport(app))
        server = cls(
            control,
            api_url=api.url,
            mtls_api_url=mtls.url,
            ca_cert=str(ca),
            app=app,
            runner=runner,
            files=files,
            dispatcher=dispatcher,
        )
        server.started_in = time.perf_counter() - began
        return server

    @classmethod
    def connect(cls, where: str, ca_cert: str | None = None, admin_token: str | None = None) -> WiseServer:
        """A `mockwise serve` already running: `where` is its state directory (or sandbox.json),
        or its API URL (then give `ca_cert` for HTTPS)."""
        path = Path(where)
        if path.exists():
            doc: JSON = json.loads(
                (path / "sandbox.json" if path.is_dir() else path).read_text(encoding="utf-8")
            )
            api_url, mtls_url, ca = doc["api_url"], doc.get("mtls_api_url") or "", doc.get("ca_cert") or ""
        else:
            api_url, mtls_url, ca = where.rstrip("/"), "", ca_cert or ""
        verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca) if ca else True
        control = SandboxClient(api_url, admin_token=admin_token, verify=verify)
        return cls(control, api_url=api_url, mtls_api_url=mtls_url or api_url, ca_cert=ca)

    def new_tenant(self, **options: Any) -> WiseSandbox:
        return WiseSandbox(self, self.control.create_tenant(**options))

    def stop(self) -> None:
        self.control.close()
        if self.dispatcher is not None:
            self.dispatcher.stop()
        if self._runner is not None:
            self._runner.stop_thread()
        if self._files is not None:
            self._files.cleanup()


class SandboxClock(ClockClient):
    """The tenant's clock; `advance(..., process=True)` moves this test process's clock too."""

    def __init__(self, tenant: TenantClient) -> None:
        super().__init__(tenant)
        self._process = ProcessClock()

    def advance(
        self, seconds: float = 0, *, minutes: float = 0, hours: float = 0, process: bool = False
    ) -> float:
        """Move the tenant's clock (server-side expiry, skew). With `process=True` the test process's
        own clock moves the same way (time-machine), so a client that renews from `expires_in` on
        its own clock sees the same hours pass, without sleeping."""
        delta = seconds + 60 * minutes + 3600 * hours
        if process:
            self._shift_process(delta)
        return super().advance(delta)

    def _shift_process(self, delta: float) -> None:
        if not self._process.started:
            # The tenant's clock is frozen first: an in-process server reads the same patched
            # time.time(), and must not move twice.
            self.freeze()
            self._process.start()
        self._process.shift(delta)

    def stop(self) -> None:
        self._process.stop()


class WiseSandbox(TenantClient):
    """One tenant of the session's sandbox: a fresh, isolated Wise for one test. A `TenantClient`
    (every handle of `mockwise.testing._handles.TenantHandle`), with the partner's credentials, the
    server's URLs, the CA and a client certificate as files, and a clock that can move this process
    too."""

    def __init__(self, server: WiseServer, tenant: TenantClient) -> None:
        super().__init__(tenant.sandbox, tenant.id, tenant.credentials)
        self.server = server
        self.api_url, self.mtls_api_url = server.api_url, server.mtls_api_url
        self.authorize_url, self.ca_cert = server.authorize_url, server.ca_cert
        self.clock: SandboxClock = SandboxClock(self)
        self._files = tempfile.TemporaryDirectory(prefix="mockwise-tenant-")
        # subscribe, trigger, assert what the receiver did (§8); receivers in this process too
        self.webhooks = WebhooksClient(self, lambda: self.server.dispatcher)

    @property
    def tenant(self) -> TenantClient:
        """Deprecated (removed in 0.3.0): a `WiseSandbox` is its `TenantClient`; use it directly."""
        warnings.warn("WiseSandbox.tenant is deprecated: the sandbox is the tenant", DeprecationWarning, 2)
        return self

    # The partner's credentials and certificate ---------------------------------------------------

    @property
    def client_id(self) -> str:
        return str(self.client["client_id"])

    @property
    def client_secret(self) -> str:
        return str(self.client["client_secret"])

    @property
    def redirect_uri(self) -> str:
        return str(self.client["redirect_uris"][0])

    @cached_property
    def _certificate(self) -> tuple[str, str]:
        """The partner's client certificate and key, as files (made on first use: ~1 ms)."""
        return self.certificate_files(self.client_id, self._files.name)

    @property
    def client_cert(self) -> str:
        return self._certificate[0]

    @property
    def client_key(self) -> str:
        return self._certificate[1]

    def ssl_context(self, *, certificate: bool = True) -> ssl.SSLContext:
        """Trusts the sandbox CA (only) and presents the partner's certificate: give it to httpx
        as `verify=` (httpx ignores `cert=` when `verify` is a path)."""
        context = ssl.create_default_context(cafile=self.ca_cert)
        if certificate:
            context.load_cert_chain(self.client_cert, self.client_key)
        return context

    def http_client(self, **options: Any) -> httpx.Client:
        """An httpx client for the mTLS host, with the partner's certificate."""
        return httpx.Client(base_url=self.mtls_api_url, verify=self.ssl_context(), **options)

    # In-process mode (no sockets) ---------------------------------------------------------------

    @property
    def transport(self) -> httpx.BaseTransport:
        """A sync httpx transport straight into the app: no sockets, no TLS (so no mTLS checks)."""
        from mockwise._transport.inprocess import SyncASGITransport

        return SyncASGITransport(self._app())

    @property
    def async_transport(self) -> httpx.AsyncBaseTransport:
        from mockwise._transport.inprocess import ASGITransport

        return ASGITransport(self._app())

    def _app(self) -> Any:
        if self.server.app is None:
            raise RuntimeError("the in-process mode needs a sandbox in this process (not --mockwise-url)")
        return self.server.app

    def close(self) -> None:
        self.clock.stop()
        with contextlib.suppress(Exception):
            self.delete()
        self._files.cleanup()


def sandbox_problem(where: str, option: str) -> str | None:
    """Why `where` cannot name a running `mockwise serve` (a state directory, its sandbox.json,
    or an http(s) URL), in one line naming `option`; None when it can."""
    if re.match(r"^https?://", where):
        return None
    path = Path(where)
    fix = "start `mockwise serve` (it writes .mockwise/) and give its state directory, or its https:// URL"
    if not path.exists():
        return f"{option} {where}: no such state directory or sandbox.json; {fix}"
    document = path / "sandbox.json" if path.is_dir() else path
    if not document.is_file():
        return f"{option} {where}: no sandbox.json in it; is `mockwise serve --state-dir {where}` running?"
    try:
        doc = json.loads(document.read_text(encoding="utf-8"))
        url = f"{doc['control_url']}/health"
    except (OSError, ValueError, KeyError, TypeError):
        return f"{option} {where}: {document} is not a sandbox.json written by `mockwise serve`; {fix}"
    ca = doc.get("ca_cert")
    try:
        context = ssl.create_default_context(cafile=ca) if ca else None
        urllib.request.urlopen(url, context=context, timeout=5).close()  # noqa: S310 - http(s) only
    except urllib.error.HTTPError:
        return None  # it answers (an older server without /health)
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        return (
            f"{option} {where}: nothing answers at {doc.get('api_url')} ({reason}); that server has "
            f"stopped: start `mockwise serve --state-dir {document.parent}` again"
        )
    return None
