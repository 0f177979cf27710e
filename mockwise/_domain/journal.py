"""The request journal: what each request did, judged at the moment it arrived.

Entries never hold secrets: tokens appear as `Token.id` (a prefix of their SHA-256), and only the
*names* of form parameters are kept. The journal is bounded (`capacity`, per tenant, 10,000 entries
by default): the oldest entries fall off, `dropped` counts them, and sequence numbers keep counting,
so a gap before the first entry held is visible too.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, fields
from typing import Any

from mockwise._domain.records import JSON, from_data, to_data
from mockwise._domain.store import NO_LEDGER, Ledger

DEFAULT_CAPACITY = 10_000


@dataclass(slots=True)
class Entry:
    seq: int = 0
    at: float = 0.0  # tenant clock
    wall: float = 0.0  # system clock, when the request arrived
    done: float = 0.0  # system clock, when its answer was complete
    method: str = ""
    path: str = ""  # as the client sent it
    route: str = ""  # the path as routed: no CalVer prefix (`/2026Q3`), no trailing slash
    status: int = 0
    error: str | None = None  # the Wise error code answered, if any ("invalid_grant", "NotNull"...)
    reason: str | None = None  # why, in one word ("redirect_uri_mismatch", "refresh_token_revoked"...)
    grant_type: str | None = None
    client_id: str | None = None
    user_id: int | None = None
    token: str | None = None  # Token.id of the token presented (bearer or refresh token)
    token_kind: str | None = None
    token_state: str | None = None  # valid, expired, superseded, revoked, unknown (codes: used)
    token_cause: str | None = None  # why it ended early, when it did
    issued: str | None = None  # Token.id of the access token this request was given
    fault: str | None = None
    cert: str | None = None  # SHA-256 fingerprint of the client certificate
    server_cert: str | None = None  # set when the connection presented a stand-in server certificate
    params: tuple[str, ...] = ()  # names of the form parameters sent (never their values)
    query: tuple[str, ...] = ()  # names of the query-string parameters (never their values)
    headers: tuple[str, ...] = ()  # names of the request headers, as sent (never their values)
    basic_auth: bool = False
    trace_id: str = ""
    sca: str | None = None  # "challenged:<reason> ott=<id>", "approved:<how> ott=<id>", "refused:<reason>"
    jose: str | None = None  # "jws", "jwe", "jws+jwe" (kid=...), or "refused:<reason>"

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["params"] = list(self.params)
        data["query"] = list(self.query)
        data["headers"] = list(self.headers)
        return data


FIELDS = frozenset(f.name for f in fields(Entry))


@dataclass(slots=True)
class ControlCall:
    """A control-plane request, for the console's listeners (`Sandbox.control_listeners`). The
    control plane drives the sandbox; it is not a client's traffic, so no journal keeps it."""

    wall: float  # system clock, when the request arrived
    method: str
    path: str  # as sent, without the query string
    status: int = 0
    done: float = 0.0


@dataclass(slots=True)
class Note:
    """What a domain operation tells the journal about the request it served: the operation
    returns it (or its refusal carries it) and the request pipeline writes it into the entry.
    Never a secret: tokens appear by `Token.id`."""

    user_id: int | None = None
    token: str | None = None
    token_kind: str | None = None
    token_state: str | None = None
    token_cause: str | None = None
    issued: str | None = None
    sca: str | None = None
    jose: str | None = None

    def apply(self, entry: Entry) -> None:
        for name in self.__slots__:
            value = getattr(self, name)
            if value is not None:
                setattr(entry, name, value)


def expect_requests(
    entries: list[Entry], found: list[Entry], times: int | None, match: dict[str, Any], dropped: int = 0
) -> list[Entry]:
    """`found` (the entries matching `match`) must number `times` (at least one when None). On
    failure, the message shows the requests to that path and every other refused request, with
    the state of the token each presented and why it ended: usually the explanation."""
    if (times is None and found) or (times is not None and len(found) == times):
        return found
    wanted = ", ".join(f"{k}={v!r}" for k, v in match.items() if v is not None) or "any request"
    expected = "at least once" if times is None else f"{times} time(s)"
    path = match.get("path")
    near = [e for e in entries if path is None or path in (e.path, e.route)]
    refused = [e for e in entries if e not in near and (e.status >= 400 or e.status == 0)]
    lines = [f"expected {wanted} {expected}, found {len(found)}."]
    lines.append("Requests to that path:" if path is not None else "All requests:")
    lines += [f"  {describe(e)}" for e in near[-25:]] or ["  (none)"]
    if refused:
        lines.append("Other refused requests:")
        lines += [f"  {describe(e)}" for e in refused[-10:]]
    if dropped:
        lines.append(f"  ({dropped} older entries were dropped from the journal)")
    raise AssertionError("\n".join(lines))


def describe(entry: Entry) -> str:
    """One journal entry as a readable line, for assertion messages and the dashboard."""
    parts = [f"#{entry.seq}", entry.method, entry.path, "->", str(entry.status)]
    if entry.error:
        parts.append(entry.error + (f" ({entry.reason})" if entry.reason else ""))
    if entry.grant_type:
        parts.append(f"grant={entry.grant_type}")
    if entry.client_id:
        parts.append(f"client={entry.client_id}")
    if entry.token:
        state = f" {entry.token_state}" if entry.token_state else ""
        cause = f" ({entry.token_cause})" if entry.token_cause else ""
        parts.append(f"token={entry.token_kind}:{entry.token}{state}{cause}")
    elif entry.token_state:
        parts.append(f"token {entry.token_state}")
    if entry.issued:
        parts.append(f"issued={entry.issued}")
    if entry.fault:
        parts.append(f"fault={entry.fault}")
    if entry.sca:
        parts.append(f"sca={entry.sca}")
    if entry.jose:
        parts.append(f"jose={entry.jose}")
    return " ".join(parts)


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
