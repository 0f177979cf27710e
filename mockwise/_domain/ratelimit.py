"""Rate limits (reference §9): 100 requests a second and 1000 a minute per client by default.

A sliding window on the tenant's clock: a client may make at most `per_second` requests in any
1-second span and `per_minute` in any 60-second span; a refused request does not count. Each
admitted request's instant is pushed once and popped once, so the check is amortised O(1), and a
window never holds more instants than its limit. `Retry-After` is when the oldest request in the
full window leaves it, so a client that honours it is served again.

Only authenticated requests are counted (the request pipeline counts after authentication): a
wrong secret or a dead token is refused as such and spends nothing of the partner's quota, and
failures have no separate budget (see `Settings.rate_limits`).

The tenant clock (not the wall clock) makes limits testable without sleeping: freeze the clock,
send 101 requests, see the 429, `advance(1)`, be served again.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from typing import Any

from mockwise._domain.context import TenantContext
from mockwise._domain.errors import RateLimited
from mockwise._domain.settings import RateLimits

__all__ = ["RateLimiter", "RateLimits"]


class _Window:
    __slots__ = ("limit", "seen", "span")

    def __init__(self, span: float, limit: int) -> None:
        self.span = span
        self.limit = limit
        self.seen: deque[float] = deque()

    def wait(self, now: float) -> float:
        """Seconds until this window has room at `now` (0: it has room now)."""
        seen = self.seen
        if seen and seen[-1] > now:  # the tenant clock went back: forget the future
            seen.clear()
        horizon = now - self.span
        while seen and seen[0] <= horizon:
            seen.popleft()
        if len(seen) < self.limit:
            return 0.0
        return seen[0] + self.span - now


class RateLimiter:
    """One tenant's limits (`Settings.rate_limits`), counted per client or per tenant."""

    def __init__(self, context: TenantContext) -> None:
        self._context = context
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[_Window, _Window]] = {}
        self._counted_for: RateLimits | None = None  # the settings the windows were made for

    @property
    def settings(self) -> RateLimits:
        return self._context.settings.rate_limits

    def configure(self, **changes: Any) -> RateLimits:
        """Change the settings (`enabled`, `per_second`, `per_minute`, `limited_by`, `scope`,
        `retry_after`): `rate_limits.<name>` in the tenant's settings. Counts restart."""
        context = self._context
        with context.lock:
            context.settings = context.settings.apply({f"rate_limits.{k}": v for k, v in changes.items()})
        return self.settings

    def check(self, client_id: str | None, user_id: int | None) -> None:
        """Count one request by this caller, or refuse it with 429 when a window is full."""
        settings = self.settings
        if not settings.enabled:
            return
        key = "*" if settings.scope == "tenant" else client_id if client_id is not None else f"user:{user_id}"
        now = self._context.clock.now()
        with self._lock:
            if self._counted_for is not settings:  # new limits: counts restart
                self._windows.clear()
                self._counted_for = settings
            windows = self._windows.get(key)
            if windows is None:
                windows = (_Window(1.0, settings.per_second), _Window(60.0, settings.per_minute))
                self._windows[key] = windows
            wait = max(windows[0].wait(now), windows[1].wait(now))
            if wait <= 0:
                windows[0].seen.append(now)
                windows[1].seen.append(now)
                return
        refusal = RateLimited(max(1, math.ceil(wait)), settings.limited_by)
        if not settings.retry_after:
            del refusal.headers["Retry-After"]
        raise refusal

    def usage(self) -> dict[str, dict[str, int]]:
        """Requests counted in each caller's windows now (for the control plane)."""
        now = self._context.clock.now()
        with self._lock:
            out = {}
            for key, (second, minute) in self._windows.items():
                second.wait(now)
                minute.wait(now)
                out[key] = {"last_second": len(second.seen), "last_minute": len(minute.seen)}
            return out

    def snapshot(self) -> None:
        """Counts are not kept (a `Part` with no state worth restoring): a reset starts them afresh."""
        return None

    def restore(self, snapshot: object) -> None:
        with self._lock:
            self._windows.clear()
