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

import builtins
import dataclasses
import ssl
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack
from urllib.parse import quote

import httpx

from mockwise._domain.certificates import Certificate, Variant
from mockwise._domain.directory import ClientDetails, UserDetails
from mockwise._domain.faults import FaultKind
from mockwise._domain.journal import FIELDS, Entry, expect_requests
from mockwise._domain.linking import LinkOptions
from mockwise._domain.model import ProfileType
from mockwise._domain.scenarios import ScenarioHandle, UserRef
from mockwise._domain.settings import KEYS, Settings
from mockwise.testing._records import (
    ClientRecord,
    FaultRecord,
    IssuedRecord,
    ProfileRecord,
    UserRecord,
    certificate_of,
)
from mockwise.testing._webhooks import WebhooksClient

if TYPE_CHECKING:
    from mockwise._pki import KeyType

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
        """A new tenant; `settings` by dotted key (`{"oauth.refresh_token_rotation": True}`).
        `fidelity` (settings by their flat names) is deprecated and goes in 0.3.0."""
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


class TenantClient(ScenarioHandle):
    """One tenant over the control plane: a `TenantHandle` (`mockwise.testing._handles`), with the
    credentials it was seeded with when it was created here."""

    def __init__(self, sandbox: SandboxClient, tenant_id: str, credentials: JSON | None = None) -> None:
        self.sandbox = sandbox
        self.id = tenant_id
        self.credentials: JSON = credentials or {}
        self.prefix = f"/tenants/{tenant_id}"
        self.clock: ClockClient = ClockClient(self)
        self.faults = FaultsClient(self)
        self.certificates = CertificatesClient(self)
        self.journal = JournalClient(self)
        self.webhooks = WebhooksClient(self)
        # the secrets of users this client seeded or added, by e-mail (the sandbox keeps digests)
        self._secrets: dict[str, JSON] = {u["email"].casefold(): u for u in self.users}

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

    @property
    def settings(self) -> Settings:
        """The tenant's settings now (one request)."""
        return _settings(self.call("GET", "/settings"))

    def configure(self, changes: Mapping[str, Any]) -> Settings:
        """Change settings by dotted key, all or nothing, as `Tenant.configure`; the settings now."""
        return _settings(self.call("PATCH", "/settings", dict(changes)))

    def reset(self) -> None:
        self.call("POST", "/reset")

    def delete(self) -> None:
        self.call("DELETE")

    # Clients, users, profiles, personal tokens

    def add_client(
        self, client_id: str | None = None, client_secret: str | None = None, **details: Unpack[ClientDetails]
    ) -> ClientRecord:
        """An API client (a partner); `details` are `ClientDetails`."""
        body: JSON = {"client_id": client_id, "client_secret": client_secret, **details}
        body["redirect_uris"] = list(details.get("redirect_uris", ()))
        return ClientRecord.of(self.call("POST", "/clients", body))

    def add_user(
        self,
        email: str,
        password: str | None = None,
        *,
        profiles: Sequence[JSON] = (),
        **details: Unpack[UserDetails],
    ) -> UserRecord:
        """A Wise user; `details` are `UserDetails`; `profiles` (over HTTP only): specs of profiles
        to add with them, as the control plane takes them."""
        body = {"email": email, "password": password, "profiles": list(profiles)}
        made: JSON = self.call("POST", "/users", body | {k: _json(v) for k, v in details.items()})
        if password is not None:
            self._secrets[str(made["email"]).casefold()] = {"password": password}
        return self._user(made)

    def user(self, ref: UserRef) -> UserRecord:
        """A user by id, e-mail, or as another call answered them, as they are now (one request).
        Until 0.3.0, a user this client seeded is found by their seeded e-mail after they changed
        it (this used to answer the seed's record)."""
        key = ref if isinstance(ref, int | str) else ref.id
        try:
            return self._user(self.call("GET", f"/users/{quote(str(key), safe='@')}"))
        except ControlPlaneError as exc:
            seeded = self._secrets.get(key.casefold()) if isinstance(key, str) and exc.status == 404 else None
            if seeded is None or "id" not in seeded:
                raise
            return UserRecord.of(self.call("GET", f"/users/{seeded['id']}"), seeded)

    def _user(self, data: JSON) -> UserRecord:
        return UserRecord.of(data, self._secrets.get(str(data["email"]).casefold()))

    def add_profile(
        self, user: UserRef, type: ProfileType | str = ProfileType.PERSONAL, **fields: Any
    ) -> ProfileRecord:
        """A personal or business profile for `user`: `fields` as `Tenant.add_profile` takes them
        (an `Address` or its fields as a dict, balances as (currency, amount) pairs or dicts)."""
        spec = {name: _json(value) for name, value in fields.items()}
        if "balances" in spec:
            spec["balances"] = [
                b if isinstance(b, dict) else {"currency": b[0], "amount": b[1]} for b in spec["balances"]
            ]
        spec["type"] = ProfileType(type).value
        return ProfileRecord.of(self.call("POST", f"/users/{self._user_id(user)}/profiles", spec))

    def add_personal_token(self, user: UserRef) -> str:
        return str(self.call("POST", f"/users/{self._user_id(user)}/personal-tokens")["token"])

    def _user_id(self, user: UserRef) -> int:
        if isinstance(user, int):
            return user
        return self.user(user).id if isinstance(user, str) else user.id

    def issue_certificate(self, client_id: str, **spec: Any) -> IssuedRecord:
        """Deprecated (removed in 0.3.0): `certificates.issue(client_id, ...)`."""
        warnings.warn(
            "TenantClient.issue_certificate is deprecated: use certificates.issue", DeprecationWarning, 2
        )
        return self.certificates.issue(client_id, **spec)

    def certificate_files(self, client_id: str, directory: str | Path) -> tuple[str, str]:
        """`certificates.issue`, written as `client.pem` and `client.key` (mode 0600) into
        `directory`, for clients that take paths; returns both paths."""
        from mockwise._pki import write_private  # cryptography, only when certificates are written

        issued = self.certificates.issue(client_id)
        cert, key = Path(directory) / "client.pem", Path(directory) / "client.key"
        cert.write_text(issued.cert_pem, encoding="ascii")
        write_private(key, issued.key_pem)
        return str(cert), str(key)

    # The customer on the authorize page (§3)

    def link(self, authorize_url: str, email: str | None = None, **options: Unpack[LinkOptions]) -> str:
        """A scripted user logs in, passes 2FA, chooses a profile and approves (or denies): the
        redirect back (or, for a link from the sandbox mailbox, the code the page shows), as
        `Tenant.link`. The password defaults to the one this client seeded or added the user with.
        Raises `ControlPlaneError` when the page refuses (a bad authorize URL: 400; a refused step:
        422). `link_outcome` answers the whole outcome."""
        outcome = self.link_outcome(authorize_url, email, **options)
        return str(outcome.get("redirect") or outcome.get("code") or "")

    def link_outcome(
        self, authorize_url: str, email: str | None = None, **options: Unpack[LinkOptions]
    ) -> JSON:
        """`link`, answering `{"redirect", "code", "profile_id", "denied"}`."""
        if email is not None and options.get("password") is None:
            options["password"] = self._secrets.get(email.casefold(), {}).get("password")
        body = {"authorize_url": authorize_url, "email": email, **options}
        outcome: JSON = self.call("POST", "/link", _given(body))
        return outcome

    # Scenarios: declared in `mockwise._domain.scenarios.ScenarioHandle`

    def scenario(self, name: str, **params: Any) -> JSON:
        """Run the scenario `name` with its parameters; the control plane's whole answer."""
        outcome: JSON = self.call("POST", f"/scenarios/{name}", params)
        return outcome

    def _run_scenario(self, name: str, params: Mapping[str, Any]) -> list[str] | str:
        sent = {key: getattr(value, "id", value) for key, value in params.items() if value is not None}
        outcome = self.scenario(name, **sent)
        if "client_secret" in outcome:
            return str(outcome["client_secret"])
        return [str(token) for token in outcome["ended"]]


class ClockClient:
    def __init__(self, tenant: TenantClient) -> None:
        self._tenant = tenant

    def now(self) -> float:
        return float(self._tenant.call("GET", "/clock")["epoch"])

    def advance(self, seconds: float = 0, *, minutes: float = 0, hours: float = 0) -> float:
        """Move the tenant's clock by `seconds` + `minutes` + `hours`; the new instant."""
        delta = seconds + 60 * minutes + 3600 * hours
        return float(self._tenant.call("POST", "/clock/advance", {"seconds": delta})["epoch"])

    def set(self, at: float | str) -> float:
        return float(self._tenant.call("POST", "/clock/set", {"at": at})["epoch"])

    def freeze(self) -> float:
        return float(self._tenant.call("POST", "/clock/freeze")["epoch"])

    def unfreeze(self) -> float:
        return float(self._tenant.call("POST", "/clock/unfreeze")["epoch"])


class FaultsClient:
    def __init__(self, tenant: TenantClient) -> None:
        self._tenant = tenant

    def add(self, kind: FaultKind | str, **scope: Any) -> FaultRecord:
        """Arm a fault: `faults.add("rate_limited", path="/oauth/token", times=2, retry_after=1)`."""
        return FaultRecord.of(self._tenant.call("POST", "/faults", {"kind": str(kind), **scope}))

    def remove(self, fault_id: str) -> None:
        self._tenant.call("DELETE", f"/faults/{fault_id}")

    def clear(self) -> None:
        self._tenant.call("DELETE", "/faults")

    def __iter__(self) -> Iterator[FaultRecord]:
        return iter(self.list())

    def list(self) -> builtins.list[FaultRecord]:
        """The armed faults, in the order they are tried (one request)."""
        return [FaultRecord.of(f) for f in self._tenant.call("GET", "/faults")["faults"]]


class CertificatesClient:
    """The Developer Hub's certificate page over the control plane, as `Tenant.certificates`."""

    def __init__(self, tenant: TenantClient) -> None:
        self._tenant = tenant

    def issue(
        self,
        client_id: str,
        *,
        name: str | None = None,
        key_type: KeyType = "ec",
        variant: Variant | None = None,
    ) -> IssuedRecord:
        """A new key and client certificate from the sandbox CA (the Developer Hub's "Generate
        certificate"), or a `variant` for a negative test; the key in clear, this once."""
        body = {"name": name, "key_type": key_type, "variant": variant}
        return IssuedRecord.of(self._tenant.call("POST", _of(client_id), _given(body)))

    def sign(self, client_id: str, csr_pem: str, *, name: str | None = None) -> Certificate:
        body = _given({"csr": csr_pem, "name": name})
        return certificate_of(self._tenant.call("POST", _of(client_id), body))

    def register(self, client_id: str, cert_pem: str, *, name: str | None = None) -> Certificate:
        body = _given({"certificate": cert_pem, "name": name})
        return certificate_of(self._tenant.call("POST", _of(client_id), body))

    def revoke(self, fingerprint: str, client_id: str | None = None) -> Certificate:
        if client_id is None:
            wanted = fingerprint.replace(":", "").lower()
            found = next((c for c in self if c.fingerprint.startswith(wanted)), None)
            if found is None:
                raise LookupError(f"no certificate {fingerprint!r}")
            client_id = found.client_id
        return certificate_of(self._tenant.call("POST", f"{_of(client_id)}/{fingerprint}/revoke"))

    def enforce(self, client_id: str, enforced: bool = True) -> None:
        self._tenant.call("PUT", f"/clients/{quote(client_id, safe='')}/mtls", {"mtls_enforced": enforced})

    def of_client(self, client_id: str) -> list[Certificate]:
        return [certificate_of(c) for c in self._tenant.call("GET", _of(client_id))["certificates"]]

    def __iter__(self) -> Iterator[Certificate]:
        listed = self._tenant.call("GET", "/certificates")["certificates"]
        return iter([certificate_of(c) for c in listed])


def _of(client_id: str) -> str:
    return f"/clients/{quote(client_id, safe='')}/certificates"


def _given(body: JSON) -> JSON:
    return {key: value for key, value in body.items() if value is not None}


def _settings(described: JSON) -> Settings:
    """Settings from the control plane's description (a setting this version does not know, from a
    newer server, is left out)."""
    return Settings().apply({key: row["value"] for key, row in described.items() if key in KEYS})


def _json(value: Any) -> Any:
    """A user's or profile's field as JSON: an `Address` as its fields, a date in ISO form."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value.isoformat() if isinstance(value, date) else value


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
