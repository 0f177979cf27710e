"""What every part of a tenant shares: its clock, lock, settings, directory and token store, and a
narrow line back to the sandbox for routing credentials to the tenant.

Each service of a tenant (grants, linking, SCA, JOSE, rate limits, certificates...) is built from
one `TenantContext` and nothing else of the tenant, and keeps its state behind one rule, `Part`:
`snapshot()` returns its state as plain picklable data and `restore()` puts a snapshot back
(None: empty). A tenant's reset restores every part's seeded snapshot; the same two calls are the
seam a state store saves and loads a tenant through.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

from mockwise.domain.clock import Clock
from mockwise.domain.directory import Directory
from mockwise.domain.fidelity import Settings
from mockwise.domain.model import Secrets
from mockwise.domain.tokens import TokenStore


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

    def snapshot(self) -> Any:
        """This part's state as plain data (picklable, shares nothing with the live state)."""

    def restore(self, snapshot: Any) -> None:
        """Replace the state with `snapshot` (None: empty)."""


@dataclass(eq=False)
class TenantContext:
    """The shared ground of one tenant's services."""

    id: str
    routes: Routes
    secrets: Secrets
    settings: Settings = field(default_factory=Settings)
    clock: Clock = field(default_factory=Clock)
    lock: threading.RLock = field(default_factory=threading.RLock)
    directory: Directory = field(init=False)
    store: TokenStore = field(init=False)

    def __post_init__(self) -> None:
        self.directory = Directory(self.secrets, self.routes.bind_client, self.routes.unbind_client)
        self.store = TokenStore(self.routes.bind_token, self.routes.unbind_token)

    # The context's own state: settings, clock and directory (a `Part`).

    def snapshot(self) -> tuple[Settings, tuple[float, float | None], bytes]:
        return self.settings, self.clock.snapshot(), self.directory.snapshot()

    def restore(self, snapshot: tuple[Settings, tuple[float, float | None], bytes] | None) -> None:
        settings, clock, directory = snapshot if snapshot is not None else (Settings(), None, None)
        self.settings = settings
        self.clock.restore(clock)
        self.directory.restore(directory)
