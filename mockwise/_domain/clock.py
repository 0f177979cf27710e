"""A tenant's simulated clock: the system clock plus an offset, or frozen at an instant.

Expiry everywhere follows the tenant's clock, so a test moves time instead of sleeping.
Instants are POSIX seconds (floats, UTC); `iso_millis` and `iso_nanos` render them as Wise does.
The journal takes its system-clock instants to the microsecond (`micros_time`, `to_micros`), and
stores an instant that is a whole number of microseconds as that integer (`INSTANT`): an integer is
written several times faster than the shortest text of a float.
"""

from __future__ import annotations

import functools
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from mockwise._domain.codec import JSON, codec, from_data, to_data


class Clock:
    """Time for one tenant. Starts at the system time; `advance`, `set`, `freeze` move it."""

    __slots__ = ("_frozen_at", "_lock", "_offset", "_source", "changed")

    def __init__(self, source: Callable[[], float] = time.time) -> None:
        self._source = source
        self._offset = 0.0
        self._frozen_at: float | None = None
        self._lock = threading.Lock()
        self.changed: Callable[[], None] = _nothing
        """Called after every move (a tenant marks its clock changed for its state store)."""

    def now(self) -> float:
        frozen = self._frozen_at
        return frozen if frozen is not None else self._source() + self._offset

    @property
    def frozen(self) -> bool:
        return self._frozen_at is not None

    @property
    def offset(self) -> float:
        """Seconds this clock runs ahead of the system clock (negative: behind)."""
        return self.now() - self._source()

    def advance(self, seconds: float = 0, *, minutes: float = 0, hours: float = 0) -> float:
        """Move time forward (or back, for skew tests) by `seconds` + `minutes` + `hours`; returns
        the new instant."""
        seconds += 60 * minutes + 3600 * hours
        with self._lock:
            if self._frozen_at is not None:
                self._frozen_at += seconds
            else:
                self._offset += seconds
            now = self.now()
        self.changed()
        return now

    def set(self, instant: float | str | datetime) -> float:
        """Jump to an absolute instant; a frozen clock stays frozen there."""
        at = to_timestamp(instant)
        with self._lock:
            if self._frozen_at is not None:
                self._frozen_at = at
            else:
                self._offset = at - self._source()
        self.changed()
        return at

    def freeze(self) -> float:
        with self._lock:
            if self._frozen_at is None:
                self._frozen_at = self._source() + self._offset
            at = self._frozen_at
        self.changed()
        return at

    def unfreeze(self) -> float:
        """Let time run again from the frozen instant (no jump)."""
        with self._lock:
            if self._frozen_at is not None:
                self._offset = self._frozen_at - self._source()
                self._frozen_at = None
        self.changed()
        return self.now()

    def reset(self) -> None:
        self.restore(None)

    def snapshot(self) -> JSON:
        """The clock's state as data (`ClockState`), as `restore` takes it back."""
        with self._lock:
            return to_data(ClockState(self._offset, self._frozen_at))

    def restore(self, snapshot: JSON) -> None:
        """Back to `snapshot` (None: the system time, running)."""
        state = from_data(ClockState, snapshot, "clock") if snapshot is not None else ClockState()
        with self._lock:
            self._offset, self._frozen_at = state.offset, state.frozen_at
        self.changed()


@dataclass(frozen=True, slots=True)
class ClockState:
    """A tenant clock as data: how far it is ahead of the system's, and where it stands if frozen."""

    offset: float = 0.0
    frozen_at: float | None = None


def _nothing() -> None:
    pass


MAX_INSTANT = 253402300800.0  # year 10000


def to_timestamp(instant: float | str | datetime) -> float:
    """Epoch seconds from epoch seconds, an aware datetime, or an ISO-8601 string (UTC unless it
    says otherwise); ValueError for anything else or out of range."""
    if isinstance(instant, str):
        try:
            moment = datetime.fromisoformat(instant.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{instant[:40]!r} is not an ISO-8601 instant") from None
        instant = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    if isinstance(instant, datetime):
        if instant.tzinfo is None:
            raise ValueError("a naive datetime is ambiguous; give a timezone (UTC)")
        at = instant.timestamp()
    else:
        at = float(instant)
    if not 0 <= at < MAX_INSTANT:
        raise ValueError("the instant is out of range (1970 to 9999)")
    return at


def micros_time() -> float:
    """The system clock to the whole microsecond (`time.time()`, cut as the journal keeps it)."""
    return time.time_ns() // 1000 / 1e6


def to_micros(instant: float) -> float:
    """`instant` to the nearest whole microsecond (the float nearest it)."""
    return round(instant * 1e6) / 1e6


def instant_data(instant: float) -> int | float:
    """An instant as data: its whole microseconds when it is a whole number of them (what
    `instant_from_data` turns back into this very float), else the float itself."""
    try:
        micros = round(instant * 1e6)
    except (OverflowError, ValueError):  # inf, nan: the float, which JSON then refuses
        return instant
    return micros if micros / 1e6 == instant else instant


def instant_from_data(data: JSON) -> float:
    """`instant_data` read back: an integer is microseconds, a float seconds."""
    if type(data) is int:
        return data / 1e6  # the same division `instant_data` checked: the same float
    if type(data) is float:
        return data
    raise TypeError(f"expected an instant (a number), got {type(data).__name__}")


INSTANT = codec(instant_data, instant_from_data)
"""The codec of a field holding an instant (`field(default=0.0, metadata=INSTANT)`)."""


def iso_millis(instant: float) -> str:
    """`2025-04-11T03:43:28.148Z`: the format of `expires_at` (reference §2.3)."""
    second, micros = _split(instant)
    return f"{_iso_second(second)}.{micros // 1000:03d}Z"


def iso_nanos(instant: float) -> str:
    """`2023-12-06T18:28:14.206824830Z`: `created_at` carries up to nanoseconds (reference §2.3)."""
    second, micros = _split(instant)
    return f"{_iso_second(second)}.{micros:06d}000Z"


# Every token answer renders one or two of these: a second's text is made once (a datetime costs
# most of it), its fraction is cut as `datetime.fromtimestamp` cuts it, so the text is the same.


def _split(instant: float) -> tuple[int, int]:
    """Whole seconds and microseconds, rounded as `datetime.fromtimestamp` rounds (CPython's
    `_PyTime_DoubleToDenominator`, half to even)."""
    fraction, whole = math.modf(instant)
    micros = round(fraction * 1e6)
    if micros >= 1_000_000:
        micros -= 1_000_000
        whole += 1.0
    elif micros < 0:
        micros += 1_000_000
        whole -= 1.0
    return int(whole), micros


@functools.lru_cache(maxsize=1024)
def _iso_second(second: int) -> str:
    return datetime.fromtimestamp(second, UTC).isoformat()[:19]  # 2025-04-11T03:43:28


def iso_seconds(instant: float) -> str:
    return datetime.fromtimestamp(instant, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
