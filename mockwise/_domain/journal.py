"""The request journal: what each request did, judged at the moment it arrived.

Entries never hold secrets: tokens appear as `Token.id` (a prefix of their SHA-256), and only the
*names* of form parameters are kept. The journal is bounded (`capacity`, per tenant, 10,000 entries
by default): the oldest entries fall off, `dropped` counts them, and sequence numbers keep counting,
so a gap before the first entry held is visible too. Whoever makes an entry takes its system-clock
instants (`wall`, `done`) to the microsecond (`micros_time`, `to_micros`): the state store then
writes them as integers.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from mockwise._domain.codec import JSON, from_data, to_data
from mockwise._domain.entries import FIELDS, Entry, expect_requests
from mockwise._domain.ledger import NO_LEDGER, Ledger

DEFAULT_CAPACITY = 10_000


class Journal:
    def __init__(self, capacity: int = DEFAULT_CAPACITY, ledger: Ledger = NO_LEDGER) -> None:
        self._entries: deque[Entry] = deque(maxlen=_checked(capacity))
        self._seq = itertools.count(1)
        self._lock = threading.Lock()  # the server's loop records while a test thread may resize
        self._ledger = ledger
        self.dropped = 0
        """How many of the oldest entries fell off because the journal was full (since the process
        started: a state store keeps the entries, not this count)."""
        self.on_record: Callable[[Entry], None] | None = None
        """Called with each entry once it is recorded (outside the lock): the console log."""

    @property
    def capacity(self) -> int:
        return self._entries.maxlen or 0

    def resize(self, capacity: int) -> None:
        """Keep at most `capacity` entries from now on; the oldest beyond it are dropped (counted)."""
        with self._lock:
            entries = self._entries
            self.dropped += max(0, len(entries) - _checked(capacity))
            self._entries = deque(entries, maxlen=capacity)
        self._ledger.changed("journal")

    def record(self, entry: Entry) -> Entry:
        with self._lock:
            entry.seq = next(self._seq)
            entries = self._entries
            if len(entries) == entries.maxlen:
                self.dropped += 1
            entries.append(entry)
        self._ledger.entry(entry)
        if self.on_record is not None:
            self.on_record(entry)
        return entry

    def clear(self) -> None:
        self.restore(None)

    def snapshot(self) -> JSON:
        """The entries held (a `Part`); sequence numbers keep counting across a restore."""
        with self._lock:
            return to_data(self._entries)

    def restore(self, snapshot: JSON) -> None:
        entries = from_data(list[Entry], snapshot, "journal") if snapshot is not None else []
        with self._lock:
            self._entries = deque(entries, maxlen=self._entries.maxlen)
            self.dropped = 0
        self._ledger.rewritten("journal")

    @property
    def next_seq(self) -> int:
        """The sequence number the next entry gets (without taking it)."""
        with self._lock:
            seq = next(self._seq)
            self._seq = itertools.count(seq)
            return seq

    def load(self, entries: list[Entry], next_seq: int) -> None:
        """Put back entries a state store kept, oldest first; numbering goes on from `next_seq`."""
        with self._lock:
            self._entries = deque(entries, maxlen=self._entries.maxlen)
            self._seq = itertools.count(max(next_seq, entries[-1].seq + 1 if entries else 1))

    def latest(self, count: int) -> list[Entry]:
        """The newest `count` entries, newest first (without copying the rest)."""
        with self._lock:
            return list(itertools.islice(reversed(self._entries), count))

    def select(self, *, since: int = 0, **match: Any) -> list[Entry]:
        """Entries after sequence number `since` whose fields equal every given value
        (`None` values are ignored), e.g. `select(path="/oauth/token", grant_type="refresh_token")`.
        `path` matches the path as sent or as routed (without a CalVer prefix)."""
        unknown = set(match) - FIELDS
        if unknown:
            raise ValueError(f"unknown journal field(s): {', '.join(sorted(unknown))}")
        wanted = {k: v for k, v in match.items() if v is not None}
        path = wanted.pop("path", None)
        return [
            e
            for e in tuple(self._entries)  # a snapshot: the server may record while a test reads
            if e.seq > since
            and (path is None or path in (e.path, e.route))
            and all(getattr(e, k) == v for k, v in wanted.items())
        ]

    entries = select  # the same, by the name the HTTP client's journal also answers to

    def assert_request_made(self, times: int | None = None, **match: Any) -> list[Entry]:
        """Assert that requests matching `match` were made (exactly `times` times when given);
        on failure, the message lists what was made instead, with token states and causes."""
        return expect_requests(list(self._entries), self.select(**match), times, match, self.dropped)

    def assert_no_request(self, **match: Any) -> None:
        self.assert_request_made(times=0, **match)

    def __iter__(self) -> Iterator[Entry]:
        return iter(list(self._entries))

    def __len__(self) -> int:
        return len(self._entries)


def _checked(capacity: int) -> int:
    if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 0:
        raise ValueError("a journal capacity is a whole number of entries, 0 or more")
    return capacity
