"""What a state store reports to the domain: what it brought back at start-up (`Restored`) and
that it cannot write (`StoreUnavailable`). The store itself is `mockwise._domain.sandbox.Store`;
the ledger each tenant marks its changes on is `mockwise._domain.ledger`.

Where a sandbox's state lives: in memory only (the default), or also in a state store that
survives restarts and crashes (`mockwise._store.SqliteStore`, what `mockwise serve` uses).

The domain does not save anything itself. Each tenant has a `Ledger`, its line to the store, and
every change to the tenant's state is marked there by the piece of state that changed, right
after the change (never before: a store may write between the two):

- the big, hot state row by row: a token issued, ended or collected (`token`, `drop_token`), an
  authorization code (`code`, `drop_code`), a link (`link`), a journal entry (`entry`);
- the rest (settings, clock, directory, linking, SCA, JOSE, certificates, faults, the seeded
  snapshot) part by part (`changed("sca")`): the store saves that part's snapshot whole
  (`Tenant.stored_parts`), and since those change rarely, that is cheap;
- a part replaced whole (a reset, a restore) as `rewritten("tokens")` or `rewritten("journal")`.

The store writes what was marked in one transaction per event-loop turn (group commit), and the
HTTP edge holds each response until what it may have seen is written (`Store.unsettled`,
`Store.settle`): a client never hears of a token the store could still lose.

A store that keeps tokens only on disk (`Ledger.lazy`) lets the tenant's `TokenStore` hold just
the tokens in use: the rest are fetched by hash when presented (`fetch_token`), with their link
(`fetch_link`), so start-up does not depend on how many tokens are stored.

The in-memory store's ledger (`NO_LEDGER`) ignores every mark: the in-memory path costs a call
to an empty method per change, nothing more.
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
