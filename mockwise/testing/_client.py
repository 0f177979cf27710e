"""A Python client for the control plane, for a sandbox in this process or a server elsewhere.

    from mockwise.testing._client import SandboxClient

    sandbox = SandboxClient("http://127.0.0.1:8000")          # or transport=SyncASGITransport(app)
    tenant = sandbox.create_tenant()
    tenant.clock.advance(12 * 3600)
    tenant.journal.assert_request_made(path="/oauth/token", grant_type="refresh_token", times=1)

The pytest plugin and the contract harness drive every sandbox through this, so the same tests run
against an in-process app and against `mockwise serve`.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from mockwise._domain.journal import FIELDS, Entry, expect_requests
from mockwise._domain.settings import SANDBOX_OTP
from mockwise.testing._webhooks import WebhooksClient

JSON = dict[str, Any]
#: Items a paged listing is asked for at a time (the control plane's most).
PAGE = 1000


class ControlPlaneError(RuntimeError):
    def __init__(self, response: httpx.Response) -> None:
        try:
            body = response.json()
            message = f"{body.get('error')}: {body.get('message')}"
        except ValueError:
            message = response.text[:200]
        super().__init__(
            f"{response.request.method} {response.request.url.path} -> {response.status_code} {message}"
        )
        self.status = response.status_code


class SandboxClient:
    def __init__(
        self,
        base_url: str,
        *,
        transport: httpx.BaseTransport | None = None,
        admin_token: str | None = None,
        verify: ssl.SSLContext | bool = True,
        timeout: float = 30.0,
    ) -> None:
        headers = {"Authorization": f"Bearer {admin_token}"} if admin_token else {}
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(
            base_url=f"{self.base_url}/_mockwise",
            transport=transport,
            headers=headers,
            verify=verify,
            timeout=timeout,
        )

    def call(self, method: str, path: str, body: JSON | None = None, params: JSON | None = None) -> Any:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        response = self.http.request(method, path, json=body, params=query)
        if response.status_code >= 400:
            raise ControlPlaneError(response)
        return response.json() if response.content else None

    def every(self, path: str, key: str, params: JSON | None = None) -> list[JSON]:
        """Every item of a paged listing (`limit`/`offset`, newest first), page after page."""
        items: list[JSON] = []
        query = {**(params or {}), "limit": PAGE, "offset": 0}
        while True:
            page = self.call("GET", path, params=query)
            items += page[key]
            if page.get("next") is None:
                return items
            query["offset"] += len(page[key])

    def create_tenant(
        self,
        tenant_id: str | None = None,
        *,
        seed: JSON | bool = True,
        settings: JSON | None = None,
        fidelity: JSON | None = None,
    ) -> TenantClient:
        """A new tenant; `settings` by dotted key (`{"oauth.refresh_token_rotation": True}`), or
        `fidelity` by the flat legacy names."""
        body: JSON = {"seed": seed}
        if tenant_id is not None:
            body["id"] = tenant_id
        if settings:
            body["settings"] = settings
        if fidelity:
            body["fidelity"] = fidelity
        created = self.call("POST", "/tenants", body)
        return TenantClient(self, created["tenant"], created)

    def tenant(self, tenant_id: str) -> TenantClient:
        return TenantClient(self, tenant_id)

    def tenants(self) -> list[JSON]:
        return self.every("/tenants", "tenants")

    def reset(self) -> None:
        self.call("POST", "/reset")

    def unrouted(self, since: int = 0, **match: Any) -> list[Entry]:
        """Journal entries of requests that reached no tenant (unknown credentials, no credentials,
        unknown paths), filtered like a tenant's journal."""
        rows, _ = _follow(lambda params: self.call("GET", "/unrouted", params=params), since, match)
        return [_entry(row) for row in rows]

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> SandboxClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TenantClient:
    """One tenant: its credentials (when created here), clock, scenarios, faults and journal."""

    def __init__(self, sandbox: SandboxClient, tenant_id: str, credentials: JSON | None = None) -> None:
        self.sandbox = sandbox
        self.id = tenant_id
        self.credentials: JSON = credentials or {}
        self.prefix = f"/tenants/{tenant_id}"
        self.clock = ClockClient(self)
        self.faults = FaultsClient(self)
        self.journal = JournalClient(self)
        self.webhooks = WebhooksClient(self)

    def call(self, method: str, path: str = "", body: JSON | None = None, params: JSON | None = None) -> Any:
        return self.sandbox.call(method, self.prefix + path, body, params)

    # What the tenant was seeded with (secrets in clear; only when created by this client)

    @property
    def client(self) -> JSON:
        client: JSON = self.credentials["clients"][0]
        return client

    @property
    def users(self) -> list[JSON]:
        users: list[JSON] = self.credentials.get("users", [])
        return users

    def user(self, email: str) -> JSON:
        return next(u for u in self.users if u["email"] == email)

    @property
    def personal_tokens(self) -> list[JSON]:
        tokens: list[JSON] = self.credentials.get("personal_tokens", [])
        return tokens

    # State

    def describe(self) -> JSON:
        described: JSON = self.call("GET")
        return described

    def tokens(self, state: str | None = None) -> list[JSON]:
        return self.sandbox.every(f"{self.prefix}/tokens", "tokens", {"state": state})

    def settings(self) -> JSON:
        """Every setting, by dotted key: `{"oauth.refresh_token_rotation": False, ...}`."""
        described: JSON = self.call("GET", "/settings")
        return {key: row["value"] for key, row in described.items()}

    def configure(self, changes: JSON) -> JSON:
        """Change settings by dotted key, as `Tenant.configure`; answers every setting."""
        described: JSON = self.call("PATCH", "/settings", changes)
        return {key: row["value"] for key, row in described.items()}

    def reset(self) -> None:
        self.call("POST", "/reset")

    def delete(self) -> None:
        self.call("DELETE")

    # Seeding

    def add_client(self, **spec: Any) -> JSON:
        made: JSON = self.call("POST", "/clients", spec)
        return made

    def add_user(self, email: str, **spec: Any) -> JSON:
        made: JSON = self.call("POST", "/users", {"email": email, **spec})
        return made

    def issue_certificate(self, client_id: str, **spec: Any) -> JSON:
        """A new key and client certificate from the sandbox CA (the Developer Hub's "Generate
        certificate"): `{"certificate", "private_key", "fingerprint", ...}`, PEM in clear, this once."""
        issued: JSON = self.call("POST", f"/clients/{client_id}/certificates", spec)
        return issued

    def certificate_files(self, client_id: str, directory: str | Path) -> tuple[str, str]:
        """`issue_certificate`, written as `client.pem` and `client.key` (mode 0600) into
        `directory`, for clients that take paths; returns both paths."""
        from mockwise._pki import write_private  # cryptography, only when certificates are written

        issued = self.issue_certificate(client_id)
        cert, key = Path(directory) / "client.pem", Path(directory) / "client.key"
        cert.write_text(issued["certificate"], encoding="ascii")
        write_private(key, issued["private_key"])
        return str(cert), str(key)

    def add_personal_token(self, user_id: int) -> str:
        return str(self.call("POST", f"/users/{user_id}/personal-tokens")["token"])

    # The customer on the authorize page (§3)

    def link(
        self,
        authorize_url: str,
        *,
        email: str | None = None,
        password: str | None = None,
        approve: bool = True,
        otp: str = SANDBOX_OTP,
        profile_id: int | None = None,
    ) -> str:
        """A scripted user logs in, passes 2FA, chooses a profile and approves (or denies): the
        redirect back (or, for a link from the sandbox mailbox, the code the page shows), as
        `Tenant.link`. Raises `ControlPlaneError` when the page refuses (a bad authorize URL: 400;
        a refused step: 422). `link_outcome` answers the whole outcome."""
        outcome = self.link_outcome(
            authorize_url, email=email, password=password, approve=approve, otp=otp, profile_id=profile_id
        )
        return str(outcome.get("redirect") or outcome.get("code") or "")

    def link_outcome(self, authorize_url: str, **knobs: Any) -> JSON:
        """`link`, answering `{"redirect", "code", "profile_id", "denied"}`."""
        body = {"authorize_url": authorize_url, **{k: v for k, v in knobs.items() if v is not None}}
        outcome: JSON = self.call("POST", "/link", body)
        return outcome

    # Scenarios (`mockwise._domain.scenarios.SCENARIOS`); `user` is an id or an e-mail

    def scenario(self, name: str, **params: Any) -> JSON:
        """Run the scenario `name` with its parameters (see `SCENARIOS`)."""
        outcome: JSON = self.call("POST", f"/scenarios/{name}", params)
        return outcome

    def _ended(self, name: str, **params: Any) -> list[str]:
        return [str(token) for token in self.scenario(name, **params)["ended"]]

    def revoke_access(self, user: int | str, client_id: str | None = None) -> list[str]:
        return self._ended("revoke-access", user=user, client_id=client_id)

    def enable_enhanced_security(self, user: int | str) -> list[str]:
        return self._ended("enhanced-security", user=user)

    def breach(self, client_id: str) -> list[str]:
        return self._ended("breach", client_id=client_id)

    def change_email(self, user: int | str, email: str) -> list[str]:
        return self._ended("change-email", user=user, email=email)

    def rotate_secret(self, client_id: str, client_secret: str | None = None) -> str:
        return str(
            self.scenario("rotate-secret", client_id=client_id, client_secret=client_secret)["client_secret"]
        )

    def revoke_secret(self, client_id: str) -> list[str]:
        return self._ended("revoke-secret", client_id=client_id)

    def reclaim(self, user: int | str) -> list[str]:
        return self._ended("reclaim", user=user)


class ClockClient:
    def __init__(self, tenant: TenantClient) -> None:
        self._tenant = tenant

    def now(self) -> float:
        return float(self._tenant.call("GET", "/clock")["epoch"])

    def advance(self, seconds: float) -> float:
        return float(self._tenant.call("POST", "/clock/advance", {"seconds": seconds})["epoch"])

    def set(self, at: float | str) -> float:
        return float(self._tenant.call("POST", "/clock/set", {"at": at})["epoch"])

    def freeze(self) -> float:
        return float(self._tenant.call("POST", "/clock/freeze")["epoch"])

    def unfreeze(self) -> float:
        return float(self._tenant.call("POST", "/clock/unfreeze")["epoch"])


class FaultsClient:
    def __init__(self, tenant: TenantClient) -> None:
        self._tenant = tenant

    def add(self, kind: str, **scope: Any) -> JSON:
        """Arm a fault: `faults.add("rate_limited", path="/oauth/token", times=2, retry_after=1)`."""
        fault: JSON = self._tenant.call("POST", "/faults", {"kind": kind, **scope})
        return fault

    def list(self) -> list[JSON]:
        faults: list[JSON] = self._tenant.call("GET", "/faults")["faults"]
        return faults

    def remove(self, fault_id: str) -> None:
        self._tenant.call("DELETE", f"/faults/{fault_id}")

    def clear(self) -> None:
        self._tenant.call("DELETE", "/faults")


class JournalClient:
    def __init__(self, tenant: TenantClient) -> None:
        self._tenant = tenant

    def select(self, *, since: int = 0, **match: Any) -> list[Entry]:
        """Journal entries (after sequence number `since`) whose fields equal `match`, oldest first,
        as `Journal.select` (the control plane's pages, followed to the newest)."""
        return [_entry(row) for row in self._follow(since, match)[0]]

    def _follow(self, since: int, match: JSON) -> tuple[list[JSON], int]:
        return _follow(lambda params: self._tenant.call("GET", "/journal", params=params), since, match)

    entries = select

    def assert_request_made(self, times: int | None = None, **match: Any) -> list[Entry]:
        """Like `Journal.assert_request_made`: fails with the requests that matter, their token
        states and causes."""
        rows, dropped = self._follow(0, {})
        everything = [_entry(row) for row in rows]
        found = self.select(**match)
        return expect_requests(everything, found, times, match, dropped)

    def assert_no_request(self, **match: Any) -> None:
        self.assert_request_made(times=0, **match)

    def clear(self) -> None:
        self._tenant.call("DELETE", "/journal")


def _follow(read: Callable[[JSON], Any], since: int, match: JSON) -> tuple[list[JSON], int]:
    """A journal after `since`, page after page, oldest first; and how many were dropped."""
    rows: list[JSON] = []
    while True:
        page = read({**match, "since": since, "limit": PAGE})
        rows += page["entries"]
        if page.get("next") is None or not page["entries"]:
            return rows, int(page["dropped"])
        since = page["entries"][-1]["seq"]


def _entry(row: JSON) -> Entry:
    fields = {k: v for k, v in row.items() if k in FIELDS}
    fields["params"] = tuple(fields.get("params", ()))
    fields["query"] = tuple(fields.get("query", ()))
    fields["headers"] = tuple(fields.get("headers", ()))
    return Entry(**fields)
