"""Listings that stay small however big the state grows: pages, counts, and scans off the loop.

Every control-plane listing answers one page, newest first, with counts and a `next` link the
client follows (a relative URL, the same filters, the cursor moved on; null on the last page):

    {"tokens": [...], "total": 100000, "counts": {...}, "offset": 0, "limit": 100,
     "next": "/_mockwise/tenants/acme/tokens?offset=100&limit=100"}

Counting a tenant's 100,000 tokens touches each of them (tens of milliseconds): that work runs in a
worker thread (`offload`), one scan at a time, so the event loop keeps serving the data plane. A
scan reads its own copy of the state and never takes the tenant's lock: a worker holding that lock
would stall every request of the tenant on the loop until it let go.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlencode

import anyio
import anyio.to_thread
from starlette.requests import Request

from mockwise._domain.tenant import Tenant
from mockwise._domain.tokens import EndReason, Token, TokenState
from mockwise._http.control.common import ControlError

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
#: Below this many items a scan runs on the loop: a thread hop would cost more than the scan.
INLINE_SCAN = 5_000

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Window:
    """`limit` and `offset` as a request gave them (validated)."""

    limit: int
    offset: int


def integer(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ControlError(400, "invalid_request", f"{name!r} is a whole number") from None
    if not low <= value <= high:
        raise ControlError(400, "invalid_request", f"{name!r} is {low} to {high}")
    return value


def window_of(request: Request, default: int = DEFAULT_LIMIT) -> Window:
    return Window(
        limit=integer(request, "limit", default, 1, MAX_LIMIT),
        offset=integer(request, "offset", 0, 0, 10**12),
    )


def link(request: Request, **cursor: int | str | None) -> str:
    """This request's path and query with `cursor` changed (None removes a parameter)."""
    query = dict(request.query_params)
    for name, value in cursor.items():
        if value is None:
            query.pop(name, None)
        else:
            query[name] = str(value)
    encoded = urlencode(query)
    path = request.url.path
    return f"{path}?{encoded}" if encoded else path


def next_offset(request: Request, window: Window, total: int) -> str | None:
    following = window.offset + window.limit
    return link(request, offset=following, limit=window.limit) if following < total else None


# Running scans off the loop ----------------------------------------------------------------------

_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
    weakref.WeakKeyDictionary()
)


def _limiter() -> anyio.CapacityLimiter:
    """One scan at a time per event loop: a second worker would only compete with the loop for
    the GIL."""
    loop = asyncio.get_running_loop()
    limiter = _limiters.get(loop)
    if limiter is None:
        limiter = _limiters[loop] = anyio.CapacityLimiter(1)
    return limiter


async def offload(work: Callable[[], T], size: int) -> T:
    """`work()`, in a worker thread when it walks `size` items or more, else here."""
    if size < INLINE_SCAN:
        return work()
    return await anyio.to_thread.run_sync(work, limiter=_limiter())


# Tokens ------------------------------------------------------------------------------------------

STATES = tuple(state.value for state in TokenState if state is not TokenState.UNKNOWN)
SUPERSEDING = frozenset(reason for reason in EndReason if reason.supersedes)


@dataclass(slots=True)
class TokenScan:
    """One pass over a tenant's tokens, newest first: counts by state, and one page of them."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATES, 0))
    page: list[Token] = field(default_factory=list)
    links: list[Any] = field(default_factory=list)  # the newest user links, newest first

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def scan_tokens(
    tokens: Iterable[Token],
    now: float,
    *,
    state: str | None = None,
    offset: int = 0,
    limit: int = 0,
    links: int = 0,
) -> TokenScan:
    """Count `tokens` (newest first) by state; keep the `limit` tokens in `state` (any, when None)
    after skipping `offset` of them, and the `links` newest user links. Reads each token once and
    inlines `Token.state`: this loop runs over every token a tenant holds."""
    scan = TokenScan()
    counts, page, found = scan.counts, scan.page, scan.links
    seen: set[int] = set()
    valid, expired, superseded, revoked = STATES
    skipped = 0
    for token in tokens:
        reason = token.end_reason
        if reason is None:
            value = valid if now < token.expires_at else expired
        else:
            value = superseded if reason in SUPERSEDING else revoked
        counts[value] += 1
        if (state is None or value == state) and len(page) < limit:
            if skipped < offset:
                skipped += 1
            else:
                page.append(token)
        if len(found) < links and token.link is not None and token.link.id not in seen:
            seen.add(token.link.id)
            found.append(token.link)
    return scan


async def tokens_of(
    tenant: Tenant, *, state: str | None = None, offset: int = 0, limit: int = 0, links: int = 0
) -> TokenScan:
    """`scan_tokens` over a tenant's tokens, newest first, off the loop when there are many."""
    store = tenant.store
    now = tenant.clock.now()

    def work() -> TokenScan:
        # A copy made in one C call: safe from a worker thread while the loop issues tokens.
        newest = store.newest_first()
        return scan_tokens(newest, now, state=state, offset=offset, limit=limit, links=links)

    return await offload(work, len(store))
