"""The request journal: what each request did, judged at the moment it arrived.

Entries never hold secrets: tokens appear as `Token.id` (a prefix of their SHA-256), and only the
*names* of form parameters are kept. The journal is bounded; `dropped` counts what fell off.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

DEFAULT_CAPACITY = 10_000


@dataclass(slots=True)
class Entry:
    seq: int = 0
    at: float = 0.0  # tenant clock
    wall: float = 0.0  # system clock
    method: str = ""
    path: str = ""
    status: int = 0
    error: str | None = None  # the Wise error code answered, if any ("invalid_grant", "NotNull"...)
    grant_type: str | None = None
    client_id: str | None = None
    user_id: int | None = None
    token: str | None = None  # Token.id of the token presented (bearer or refresh token)
    token_kind: str | None = None
    token_state: str | None = None  # valid, expired, superseded, revoked, unknown
    token_cause: str | None = None  # why it ended early, when it did
    issued: str | None = None  # Token.id of the access token this request was given
    fault: str | None = None
    cert: str | None = None  # SHA-256 fingerprint of the client certificate
    params: tuple[str, ...] = ()  # names of the form parameters sent (never their values)
    basic_auth: bool = False
    trace_id: str = ""

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["params"] = list(self.params)
        return data


class Journal:
    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._entries: deque[Entry] = deque(maxlen=capacity)
        self._seq = itertools.count(1)
        self.dropped = 0

    @property
    def capacity(self) -> int:
        return self._entries.maxlen or 0

    def record(self, entry: Entry) -> Entry:
        entry.seq = next(self._seq)
        if len(self._entries) == self.capacity:
            self.dropped += 1
        self._entries.append(entry)
        return entry

    def clear(self) -> None:
        self._entries.clear()
        self.dropped = 0

    def __iter__(self) -> Iterator[Entry]:
        return iter(list(self._entries))

    def __len__(self) -> int:
        return len(self._entries)
