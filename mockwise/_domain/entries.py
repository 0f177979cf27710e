"""What a request did, as the journal keeps it (`Entry`), what a domain operation tells the
journal (`Note`), and a control-plane call for the console (`ControlCall`).

Entries never hold secrets: tokens appear as `Token.id` (a prefix of their SHA-256), and only the
*names* of form parameters, query parameters and headers are kept.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Generic, TypeVar

from mockwise._domain.clock import INSTANT


@dataclass(slots=True)
class Entry:
    seq: int = 0
    # Stored as whole microseconds when they are whole microseconds (`INSTANT`): `wall` and `done`
    # are taken so (`micros_time`); `at` is the tenant's time exactly, whatever it is.
    at: float = field(default=0.0, metadata=INSTANT)  # tenant clock
    wall: float = field(default=0.0, metadata=INSTANT)  # system clock, when the request arrived
    done: float = field(default=0.0, metadata=INSTANT)  # system clock, when its answer was complete
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

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Shared(Generic[K, V]):
    """One value per key, made once and shared: a journal keeps 10,000 entries per tenant, and a
    client sends the same names (of headers, of form parameters) on every request, so its entries
    hold one tuple of them instead of each request's copy. Bounded: a client sending new names
    every time only fills the table, which then starts again."""

    __slots__ = ("_kept", "_make", "_values")

    def __init__(self, make: Callable[[K], V], kept: int = 512) -> None:
        self._make, self._kept = make, kept
        self._values: dict[K, V] = {}

    def __call__(self, key: K) -> V:
        value = self._values.get(key)
        if value is None:
            if len(self._values) >= self._kept:
                self._values.clear()
            value = self._values[key] = self._make(key)
        return value

    def __len__(self) -> int:
        return len(self._values)


def _same(names: tuple[str, ...]) -> tuple[str, ...]:
    return names


shared_names: Shared[tuple[str, ...], tuple[str, ...]] = Shared(_same)
"""The one tuple of these names the journal's entries share (form and query parameters)."""


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
