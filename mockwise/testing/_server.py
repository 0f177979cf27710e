"""What the pytest fixtures hand a test: a server for the session, and a fresh tenant per test.

`WiseServer` is the sandbox on real sockets (HTTPS on an API host and an mTLS host, free ports, a
background thread), or a `mockwise serve` already running elsewhere. `WiseSandbox` is one tenant
of it, with everything a partner's client needs (URLs, credentials, the CA, a client certificate)
and handles on the tenant's clock, scenarios, faults, journal and scripted user.
"""

from __future__ import annotations

import contextlib
import json
import ssl
import tempfile
import time
from functools import cached_property
from pathlib import Path
from typing import Any

import httpx

from mockwise._domain.settings import SANDBOX_OTP
from mockwise.testing._client import FaultsClient, JournalClient, SandboxClient, TenantClient
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


class SandboxClock:
    """The tenant's clock; `advance(..., process=True)` moves this test process's clock too."""

    def __init__(self, sandbox: WiseSandbox) -> None:
        self._sandbox = sandbox
        self._process = ProcessClock()

    def now(self) -> float:
        return self._sandbox.tenant.clock.now()

    def advance(
        self, seconds: float = 0, *, minutes: float = 0, hours: float = 0, process: bool = False
    ) -> float:
        """Move the tenant's clock (server-side expiry, skew). With `process=True` the test process's
        own clock moves the same way (time-machine), so a client that renews from `expires_in` on
        its own clock sees the same hours pass, without sleeping."""
        delta = seconds + 60 * minutes + 3600 * hours
        if process:
            self._shift_process(delta)
        return self._sandbox.tenant.clock.advance(delta)

    def set(self, at: float | str) -> float:
        return self._sandbox.tenant.clock.set(at)

    def freeze(self) -> float:
        return self._sandbox.tenant.clock.freeze()

    def unfreeze(self) -> float:
        return self._sandbox.tenant.clock.unfreeze()

    def _shift_process(self, delta: float) -> None:
        if not self._process.started:
            # The tenant's clock is frozen first: an in-process server reads the same patched
            # time.time(), and must not move twice.
            self._sandbox.tenant.clock.freeze()
            self._process.start()
        self._process.shift(delta)

    def stop(self) -> None:
        self._process.stop()


class WiseSandbox:
    """One tenant of the session's sandbox: a fresh, isolated Wise for one test."""

    def __init__(self, server: WiseServer, tenant: TenantClient) -> None:
        self.server = server
        self.tenant = tenant
        self.clock = SandboxClock(self)
        self._files = tempfile.TemporaryDirectory(prefix="mockwise-tenant-")

    # Credentials and endpoints -------------------------------------------------------------------

    @property
    def id(self) -> str:
        return self.tenant.id

    @property
    def client_id(self) -> str:
        return str(self.tenant.client["client_id"])

    @property
    def client_secret(self) -> str:
        return str(self.tenant.client["client_secret"])

    @property
    def redirect_uri(self) -> str:
        return str(self.tenant.client["redirect_uris"][0])

    @property
    def users(self) -> list[JSON]:
        return self.tenant.users

    def user(self, email: str) -> JSON:
        return self.tenant.user(email)

    @property
    def personal_tokens(self) -> list[JSON]:
        return self.tenant.personal_tokens

    @property
    def api_url(self) -> str:
        return self.server.api_url

    @property
    def mtls_api_url(self) -> str:
        return self.server.mtls_api_url

    @property
    def authorize_url(self) -> str:
        return self.server.authorize_url

    @property
    def ca_cert(self) -> str:
        return self.server.ca_cert

    @cached_property
    def _certificate(self) -> tuple[str, str]:
        """The partner's client certificate and key, as files (made on first use: ~1 ms)."""
        return self.tenant.certificate_files(self.client_id, self._files.name)

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

    # Handles -------------------------------------------------------------------------------------

    @property
    def journal(self) -> JournalClient:
        return self.tenant.journal

    @property
    def faults(self) -> FaultsClient:
        return self.tenant.faults

    @cached_property
    def webhooks(self) -> WebhooksClient:
        """Subscribe, trigger, and assert what the receiver did (reference §8)."""
        return WebhooksClient(self.tenant, lambda: self.server.dispatcher)

    def reset(self) -> None:
        self.tenant.reset()

    def configure(self, changes: JSON) -> JSON:
        """Change the tenant's settings by dotted key (`{"oauth.refresh_token_rotation": True}`)."""
        return self.tenant.configure(changes)

    def link(
        self,
        authorize_url: str,
        email: str | None = None,
        password: str | None = None,
        *,
        approve: bool = True,
        otp: str = SANDBOX_OTP,
        profile_id: int | None = None,
    ) -> str:
        """The scripted user approves `authorize_url` (your client's) as `email` (their seeded
        password unless given); the redirect back."""
        if password is None and email is not None:
            password = str(self.user(email)["password"])
        return self.tenant.link(
            authorize_url, email=email, password=password, approve=approve, otp=otp, profile_id=profile_id
        )

    # The scenarios (`mockwise._domain.scenarios.SCENARIOS`), as on `TenantClient` and `Tenant`

    def revoke_access(self, user: int | str, client_id: str | None = None) -> list[str]:
        return self.tenant.revoke_access(user, client_id)

    def enable_enhanced_security(self, user: int | str) -> list[str]:
        return self.tenant.enable_enhanced_security(user)

    def breach(self, client_id: str) -> list[str]:
        return self.tenant.breach(client_id)

    def change_email(self, user: int | str, email: str) -> list[str]:
        return self.tenant.change_email(user, email)

    def rotate_secret(self, client_id: str, client_secret: str | None = None) -> str:
        return self.tenant.rotate_secret(client_id, client_secret)

    def revoke_secret(self, client_id: str) -> list[str]:
        return self.tenant.revoke_secret(client_id)

    def reclaim(self, user: int | str) -> list[str]:
        return self.tenant.reclaim(user)

    def close(self) -> None:
        self.clock.stop()
        with contextlib.suppress(Exception):
            self.tenant.delete()
        self._files.cleanup()
