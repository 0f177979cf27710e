"""Rate limits (reference §9): 100 requests a second and 1000 a minute per client by default.

A sliding window on the tenant's clock: a client may make at most `per_second` requests in any
1-second span and `per_minute` in any 60-second span; a refused request does not count. Each
admitted request's instant is pushed once and popped once, so the check is amortised O(1), and a
window never holds more instants than its limit. `Retry-After` is when the oldest request in the
full window leaves it, so a client that honours it is served again.

The tenant clock (not the wall clock) makes limits testable without sleeping: freeze the clock,
send 101 requests, see the 429, `advance(1)`, be served again.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mockwise.domain.clock import Clock
from mockwise.domain.fidelity import Fidelity
from mockwise.errors import LIMITED_BY, RateLimited

#: Wise's documented default limits [C] §9.
PER_SECOND = 100
PER_MINUTE = 1000
_MAX_LIMIT = 1_000_000  # a window holds at most this many instants per client


@dataclass(frozen=True, slots=True)
class RateLimits:
    """A tenant's limit settings. Off unless asked for (the standalone server turns them on)."""

    enabled: bool = False
    per_second: int = PER_SECOND
    per_minute: int = PER_MINUTE
    limited_by: str = LIMITED_BY

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


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
    """One tenant's limits, counted per client (or per tenant, `Fidelity.rate_limit_scope`)."""

    def __init__(self, clock: Clock, fidelity: Callable[[], Fidelity]) -> None:
        self._clock = clock
        self._fidelity = fidelity
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[_Window, _Window]] = {}
        self.settings = RateLimits()
        self._seeded = self.settings

    def configure(self, **changes: Any) -> RateLimits:
        """Change the settings (`enabled`, `per_second`, `per_minute`, `limited_by`); counts restart."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(RateLimits)}
        if unknown:
            raise ValueError(f"unknown rate-limit setting(s): {', '.join(sorted(unknown))}")
        settings = dataclasses.replace(self.settings, **changes)
        if not isinstance(settings.enabled, bool):
            raise ValueError("'enabled' must be a boolean")
        for name in ("per_second", "per_minute"):
            value = getattr(settings, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= _MAX_LIMIT:
                raise ValueError(f"{name!r} must be a whole number from 1 to {_MAX_LIMIT}")
        by = settings.limited_by
        if not isinstance(by, str) or not 0 < len(by) <= 100 or not (by.isascii() and by.isprintable()):
            raise ValueError("'limited_by' must be a short printable ASCII string (it is a header value)")
        with self._lock:
            self.settings = settings
            self._windows.clear()
        return settings

    def check(self, client_id: str | None, user_id: int | None) -> None:
        """Count one request by this caller, or refuse it with 429 when a window is full."""
        settings = self.settings
        if not settings.enabled:
            return
        fidelity = self._fidelity()
        if fidelity.rate_limit_scope == "tenant":
            key = "*"
        else:
            key = client_id if client_id is not None else f"user:{user_id}"
        now = self._clock.now()
        with self._lock:
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
        if not fidelity.rate_limit_retry_after:
            del refusal.headers["Retry-After"]
        raise refusal

    def usage(self) -> dict[str, dict[str, int]]:
        """Requests counted in each caller's windows now (for the control plane)."""
        now = self._clock.now()
        with self._lock:
            out = {}
            for key, (second, minute) in self._windows.items():
                second.wait(now)
                minute.wait(now)
                out[key] = {"last_second": len(second.seen), "last_minute": len(minute.seen)}
            return out

    def mark_seeded(self) -> None:
        self._seeded = self.settings

    def reset(self) -> None:
        with self._lock:
            self.settings = self._seeded
            self._windows.clear()
