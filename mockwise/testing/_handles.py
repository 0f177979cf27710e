"""One vocabulary for a tenant, in-process and over HTTP.

`mockwise._domain.tenant.Tenant` (a tenant in this process) and `mockwise.testing._client.TenantClient` (a
tenant over the control plane, in this process or in a `mockwise serve` elsewhere) both are a
`TenantHandle`; the pytest fixture's `WiseSandbox` composes a `TenantClient`. A test written
against this protocol runs against either. The scenarios come from one registry,
`mockwise._domain.scenarios.SCENARIOS`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from mockwise._domain.journal import Entry
from mockwise._domain.scenarios import ScenarioHandle
from mockwise._domain.settings import SANDBOX_OTP

if TYPE_CHECKING:
    from mockwise._domain.tenant import Tenant
    from mockwise.testing._client import TenantClient
    from mockwise.testing._server import WiseSandbox


class ClockHandle(Protocol):
    def now(self) -> float: ...

    def advance(self, seconds: float) -> float: ...

    def set(self, at: float | str) -> float: ...

    def freeze(self) -> float: ...

    def unfreeze(self) -> float: ...


class JournalHandle(Protocol):
    def select(self, *, since: int = 0, **match: Any) -> list[Entry]:
        """Entries after sequence number `since` whose fields equal `match` (`path` matches the
        path as sent or as routed)."""

    def assert_request_made(self, times: int | None = None, **match: Any) -> list[Entry]: ...

    def assert_no_request(self, **match: Any) -> None: ...

    def clear(self) -> None: ...


class TenantHandle(ScenarioHandle, Protocol):
    """What a test holds: the tenant's clock and journal, its scripted user and its scenarios
    (`ScenarioHandle`)."""

    @property
    def id(self) -> str: ...

    @property
    def clock(self) -> ClockHandle: ...

    @property
    def journal(self) -> JournalHandle: ...

    def reset(self) -> None: ...

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
        """The scripted user on the authorize page; the redirect back (or the code a mailbox link
        shows)."""


if TYPE_CHECKING:  # mypy checks that every handle keeps to the protocol

    def _conforming(
        tenant: Tenant, client: TenantClient, sandbox: WiseSandbox
    ) -> tuple[TenantHandle, TenantHandle, TenantHandle]:
        return tenant, client, sandbox
