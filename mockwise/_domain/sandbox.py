"""The sandbox: a set of isolated tenants, and the routes from credentials to tenants.

A request finds its tenant from the credentials it carries (a client id, a bearer token), so
client code needs no special URL: client ids and token hashes are unique across the sandbox.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from mockwise._domain.directory import Taken
from mockwise._domain.journal import DEFAULT_CAPACITY as DEFAULT_JOURNAL_CAPACITY
from mockwise._domain.journal import ControlCall, Entry, Journal
from mockwise._domain.model import Secrets
from mockwise._domain.seed import Credentials, SeedData, apply_seed, load_seed
from mockwise._domain.settings import Settings
from mockwise._domain.store import Ledger, MemoryStore, Restored, Store
from mockwise._domain.tenant import Tenant
from mockwise._domain.tokens import ShrinkingTable, Token, token_key

if TYPE_CHECKING:
    from mockwise._domain.webhooks import SigningKeys
    from mockwise._pki import SandboxPKI

DEFAULT_TENANT = "default"


class Sandbox:
    """All tenants of one mockwise instance (one server, or one in-process app).

    State lives in memory, unless a `store` keeps it too (`mockwise._store.SqliteStore`, as
    `mockwise serve` does): then the tenants it kept are back (`restored` says what came back),
    and `close()` (or the process dying) leaves it ready for the next start."""

    def __init__(
        self,
        settings: Settings | None = None,
        seed: SeedData | None = None,
        pki: SandboxPKI | None = None,
        store: Store | None = None,
        webhook_keys: SigningKeys | None = None,
    ) -> None:
        self.settings = settings or Settings()  # what a new tenant starts with
        self._pki = pki
        self._webhook_keys = webhook_keys
        self.delivery_listeners: list[Callable[[str], None]] = []
        """Called when a tenant's notifications may have become due (queued, answered, the clock
        moved): the dispatcher that sends them (`mockwise._transport.webhooks`) listens."""
        self.seed = seed if seed is not None else load_seed()
        self.secrets = Secrets()
        self.tenants: dict[str, Tenant] = {}
        self.unrouted = Journal()  # requests whose credentials name no tenant
        self.unrouted.on_record = partial(self._recorded, None)
        self.journal_listeners: list[Callable[[str | None, Entry], None]] = []
        self.control_listeners: list[Callable[[ControlCall], None]] = []  # control-plane calls, as made
        """Called with (tenant id, or None for unrouted requests) and each journal entry as it is
        recorded, in every tenant, present and future (`mockwise serve`'s console log)."""
        self._clients: dict[str, Tenant] = {}
        self._tokens: ShrinkingTable[str, Tenant] = ShrinkingTable()  # read without a lock
        self._routes_lock = threading.Lock()  # taken inside a tenant's lock, never around one
        self._lock = threading.Lock()
        self.store: Store = store if store is not None else MemoryStore()
        self.restored: Restored | None = self.store.open(self)

    @property
    def pki(self) -> SandboxPKI:
        """The sandbox's CA and server certificate (mTLS, §6); a fresh one in memory on first use."""
        if self._pki is None:
            from mockwise._pki import SandboxPKI  # trustme loads only when certificates are made

            with self._lock:
                if self._pki is None:
                    self._pki = SandboxPKI()
        return self._pki

    @property
    def webhook_keys(self) -> SigningKeys:
        """The key webhooks are signed with, whose public half is published (§8.4); made on first use."""
        if self._webhook_keys is None:
            from mockwise._domain.webhooks import SigningKeys

            with self._lock:
                if self._webhook_keys is None:
                    self._webhook_keys = SigningKeys()
        return self._webhook_keys

    def _deliveries_changed(self, tenant_id: str) -> None:
        for listener in list(self.delivery_listeners):
            listener(tenant_id)

    # Tenants ---------------------------------------------------------------------------------

    def create_tenant(
        self,
        tenant_id: str | None = None,
        *,
        seed: SeedData | bool | None = True,
        settings: Settings | None = None,
        fixed: bool = False,
        journal_capacity: int = DEFAULT_JOURNAL_CAPACITY,
    ) -> tuple[Tenant, Credentials]:
        """A new tenant, seeded with `seed` (default: the sandbox's seed; False: empty), whose journal
        keeps the latest `journal_capacity` requests (`tenant.journal.resize` changes it later).

        Returns the tenant and its credentials (secrets in clear, this once)."""
        if tenant_id is None:
            tenant_id = secrets.token_hex(4)
            while tenant_id in self.tenants:  # 8 hex digits clash within tens of thousands of tenants
                tenant_id = secrets.token_hex(6)
        if not _valid_id(tenant_id):
            raise ValueError("a tenant id is 1-64 letters, digits, '-' or '_'")
        tenant = self._add_tenant(tenant_id, settings or self.settings, journal_capacity)
        data = self.seed if seed is True else (seed or {})
        try:
            creds = apply_seed(tenant, data, fixed=fixed)
        except Exception:
            self.delete_tenant(tenant_id)
            raise
        self.store.created(tenant)
        return tenant, creds

    def restore_tenant(self, tenant_id: str, ledger: Ledger) -> Tenant:
        """An empty tenant for a state store to put its saved state back into (at start-up)."""
        return self._add_tenant(tenant_id, self.settings, DEFAULT_JOURNAL_CAPACITY, ledger)

    def _add_tenant(
        self, tenant_id: str, settings: Settings, journal_capacity: int, ledger: Ledger | None = None
    ) -> Tenant:
        with self._lock:
            if tenant_id in self.tenants:
                raise ValueError(f"tenant {tenant_id!r} already exists")
            routes = _TenantRoutes(self)
            tenant = Tenant(
                tenant_id,
                routes,
                lambda: self.pki,
                settings=settings,
                secrets=self.secrets,
                journal_capacity=journal_capacity,
                ledger=ledger if ledger is not None else self.store.ledger(tenant_id),
            )
            routes.tenant = tenant
            tenant.webhooks.wake = self._deliveries_changed
            tenant.journal.on_record = partial(self._recorded, tenant_id)
            self.tenants[tenant_id] = tenant
        return tenant

    def tenant(self, tenant_id: str) -> Tenant:
        try:
            return self.tenants[tenant_id]
        except KeyError:
            raise LookupError(f"no tenant {tenant_id!r}") from None

    def delete_tenant(self, tenant_id: str) -> None:
        with self._lock:
            tenant = self.tenants.pop(tenant_id, None)
        if tenant is None:
            raise LookupError(f"no tenant {tenant_id!r}")
        tenant.close()
        self.store.deleted(tenant)

    def _recorded(self, tenant_id: str | None, entry: Entry) -> None:
        for listener in self.journal_listeners:
            listener(tenant_id, entry)

    def reset(self) -> None:
        """Reset every tenant to its seeded state."""
        for tenant in list(self.tenants.values()):
            tenant.reset()
        self.unrouted.clear()

    # Routing from credentials to tenants -----------------------------------------------------

    def tenant_for_client(self, client_id: str) -> Tenant | None:
        return self._clients.get(client_id)

    def find_token(self, value: str) -> tuple[Tenant | None, Token | None]:
        key = token_key(value)
        tenant = self._tokens.data.get(key)
        if tenant is None:
            stored = self.store.locate(value, key)  # not in memory: a state store may hold it
            tenant = self.tenants.get(stored) if stored is not None else None
            token = tenant.store.find(value) if tenant is not None else None
            return (tenant, token) if token is not None else (None, None)
        return tenant, tenant.store.get(key)

    # The state store ---------------------------------------------------------------------------

    def flush(self) -> None:
        """Write every change to the state store now (the server does it once per event-loop turn;
        the Python API's changes wait for that, or for this)."""
        self.store.flush()

    def close(self) -> None:
        """Write what is left to the state store and let go of it."""
        self.store.close()

    def describe(self) -> dict[str, Any]:
        return {"tenants": sorted(self.tenants)}


def _valid_id(value: str) -> bool:
    return 0 < len(value) <= 64 and all(c.isascii() and (c.isalnum() or c in "-_") for c in value)


class _TenantRoutes:
    """One tenant's line to the sandbox's routing tables (`mockwise._domain.context.Routes`)."""

    __slots__ = ("sandbox", "tenant")

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.tenant: Tenant | None = None

    def bind_client(self, client_id: str) -> None:
        assert self.tenant is not None
        owner = self.sandbox._clients.setdefault(client_id, self.tenant)
        if owner is not self.tenant:
            raise Taken(f"client id {client_id!r} is taken by tenant {owner.id!r}")

    def unbind_client(self, client_id: str) -> None:
        if self.sandbox._clients.get(client_id) is self.tenant:
            del self.sandbox._clients[client_id]

    def bind_token(self, key: str) -> None:
        assert self.tenant is not None
        with self.sandbox._routes_lock:
            self.sandbox._tokens.put(key, self.tenant)

    def unbind_token(self, key: str) -> None:
        sandbox = self.sandbox
        with sandbox._routes_lock:
            if sandbox._tokens.data.pop(key, None) is not None:
                sandbox._tokens.shrink()
