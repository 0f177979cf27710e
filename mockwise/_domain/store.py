"""What a state store reports to the domain: what it brought back at start-up (`Restored`) and
that it cannot write (`StoreUnavailable`). The store itself is `mockwise._domain.sandbox.Store`;
the ledger each tenant marks its changes on, and how the two meet, is `mockwise._domain.ledger`.
"""

from __future__ import annotations

from dataclasses import dataclass

from mockwise._domain.errors import SpringError


@dataclass(frozen=True, slots=True)
class Restored:
    """What a state store brought back at start-up, for the start-up message."""

    source: str
    tenants: int
    users: int
    live_tokens: int

    def __str__(self) -> str:
        return (
            f"restored {_count(self.tenants, 'tenant')}, {_count(self.users, 'user')}, "
            f"{_count(self.live_tokens, 'live token')} from {self.source}"
        )


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


class StoreUnavailable(SpringError):
    """The state store cannot write (a full disk, a failing one): a request that may have changed
    state is answered 503 in Spring's shape (§10) instead of its answer, so nothing unwritten is
    acknowledged; `/_mockwise/health` says why (`Store.failure`)."""

    def __init__(self, cause: str) -> None:
        super().__init__(503, "The sandbox cannot save its state; see /_mockwise/health")
        self.code = "state_store_unavailable"
        self.cause = cause
