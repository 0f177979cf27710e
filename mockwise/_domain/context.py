"""What every part of a tenant shares: its clock, lock, settings, directory and token store, and a
narrow line back to the sandbox for routing credentials to the tenant.

Each service of a tenant (grants, linking, SCA, JOSE, rate limits, certificates...) is built from
one `TenantContext` and nothing else of the tenant, and keeps its state behind one rule, `Part`:
`snapshot()` returns its state as data (JSON values of named, typed fields,
`mockwise._domain.codec`) and `restore()` reads a snapshot back, field by field, types checked
(None: empty). A tenant's reset restores every part's seeded snapshot; the same two calls are the
seam a state store saves and loads a tenant through, and each part marks what it changes on the
tenant's `Ledger` (`mockwise._domain.ledger`), so a store knows what to write.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

from mockwise._domain.clock import Clock
from mockwise._domain.codec import JSON, RecordError, from_data
from mockwise._domain.directory import Directory
from mockwise._domain.ledger import NO_LEDGER, Ledger
from mockwise._domain.model import Secrets
from mockwise._domain.settings import Settings
from mockwise._domain.tokenstore import TokenStore


class Routes(Protocol):
    """How a tenant tells its sandbox which credentials name it. Client ids and token hashes are
    unique across the sandbox, so a request finds its tenant from the credentials it carries."""

    def bind_client(self, client_id: str) -> None:
        """Route `client_id` here; ValueError when another tenant has it."""

    def unbind_client(self, client_id: str) -> None: ...

    def bind_token(self, key: str) -> None: ...

    def unbind_token(self, key: str) -> None: ...


class Part(Protocol):
    """A piece of tenant state with one reset rule: back to a snapshot taken when it was seeded."""

    def snapshot(self) -> JSON:
        """This part's state as data: JSON values (`mockwise._domain.codec.to_data`), sharing
        nothing with the live state."""

    def restore(self, snapshot: JSON) -> None:
        """Replace the state with `snapshot` (None: empty); `RecordError` (one line naming the part
        and field) for data that is not this part's."""


class TenantContext:
    """The shared ground of one tenant's services."""

    def __init__(
        self,
        id: str,
        routes: Routes,
        secrets: Secrets,
        settings: Settings | None = None,
        clock: Clock | None = None,
        ledger: Ledger = NO_LEDGER,
    ) -> None:
        self.id = id
        self.routes = routes
        self.secrets = secrets
        self.ledger = ledger
        self._settings = settings if settings is not None else Settings()
        self.clock = clock if clock is not None else Clock()
        self.clock.changed = lambda: ledger.changed("clock")
        self.lock = threading.RLock()
        self.directory = Directory(
            secrets, routes.bind_client, routes.unbind_client, lambda: ledger.changed("directory")
        )
        self.store = TokenStore(routes.bind_token, routes.unbind_token, ledger, self.lock)

    @property
    def settings(self) -> Settings:
        return self._settings

    @settings.setter
    def settings(self, settings: Settings) -> None:
        self.put_settings(settings)

    def put_settings(self, settings: Settings | None) -> None:
        self._settings = settings if settings is not None else Settings()
        self.ledger.changed("settings")

    def changed(self, part: str) -> None:
        """Mark a change to one of the tenant's stored parts (`Tenant.stored_parts`)."""
        self.ledger.changed(part)

    # The context's own state: settings, clock and directory (a `Part`).

    def snapshot(self) -> JSON:
        return {
            "settings": self.settings.as_dict(),
            "clock": self.clock.snapshot(),
            "directory": self.directory.snapshot(),
        }

    def restore(self, snapshot: JSON) -> None:
        state = from_data(dict[str, Any], snapshot, "context") if snapshot is not None else {}
        unknown = state.keys() - {"settings", "clock", "directory"}
        if unknown:
            raise RecordError(f"context: no part {sorted(unknown)[0]!r}")
        settings = state.get("settings")
        self.settings = (
            Settings.from_data(settings, "context.settings") if settings is not None else Settings()
        )
        self.clock.restore(state.get("clock"))
        self.directory.restore(state.get("directory"))
