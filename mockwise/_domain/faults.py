"""Named faults: things going wrong on Wise's side, on demand, scoped to one tenant.

A fault is scoped by path (a glob on the path without its CalVer prefix), method, grant type and
client, and fires once, N times, always (`times=None`) or with a probability (seeded, so a run
can be replayed). Faults never change token state: `invalid_grant` makes the next refresh *answer*
`invalid_grant`; to kill a refresh token for real, run a scenario.

Faults on the way out (`webhook_*`, `FaultKind.outgoing`) shape the notifications the sandbox sends
(reference §8.9) instead of answers: they are scoped by `event_type` (a glob) and taken when a
notification is queued (`Faults.take_outgoing`); requests never meet them.
"""

from __future__ import annotations

import dataclasses
import math
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import Any, Literal

from mockwise._domain.errors import (
    DropConnection,
    RateLimited,
    RawResponse,
    SpringError,
    invalid_grant,
    invalid_token,
)
from mockwise._domain.records import JSON, from_data, to_data
from mockwise._domain.store import NO_LEDGER, Ledger

TOKEN_PATH = "/oauth/token"
MAX_DELAY = 120.0
MAX_OUTGOING_DELAY = 14 * 86400.0  # the webhook kinds wait on the tenant's clock: a test moves it
#: How a fault's `Retry-After` is written (RFC 9110 §10.2.3: delay-seconds or an HTTP-date), or
#: left out (Wise sends it "sometimes" on 429 [C] §9).
RetryAfterForm = Literal["seconds", "http-date", "absent"]
RETRY_AFTER_FORMS: tuple[str, ...] = ("seconds", "http-date", "absent")


class FaultKind(StrEnum):
    SERVER_ERROR = "server_error"  # 5xx with Spring Boot's error body (§10)
    RATE_LIMITED = "rate_limited"  # 429 with Retry-After and X-Rate-Limited-By (§9)
    DELAY = "delay"  # answer normally, `seconds` late
    CONNECTION_RESET = "connection_reset"  # close the connection without answering
    MALFORMED_JSON = "malformed_json"  # 200, application/json, a truncated body
    GATEWAY_HTML = "gateway_html"  # a load balancer's HTML error page (502/504)
    INVALID_GRANT = "invalid_grant"  # the next refresh_token grant answers invalid_grant
    INVALID_TOKEN = "invalid_token"  # the next API call answers 401 invalid_token
    # On the way out: notifications the sandbox sends (§8.9)
    WEBHOOK_DUPLICATE = "webhook_duplicate"  # delivered again once acknowledged (a redelivery)
    WEBHOOK_OUT_OF_ORDER = "webhook_out_of_order"  # held until a later one has gone (or `seconds`)
    WEBHOOK_DELAY = "webhook_delay"  # first attempt `seconds` later, on the tenant's clock
    WEBHOOK_BAD_SIGNATURE = "webhook_bad_signature"  # a forgery: X-Signature-SHA256 over other bytes
    WEBHOOK_NO_SIGNATURE = "webhook_no_signature"  # a forgery: no signature header at all
    WEBHOOK_LEGACY_SIGNATURE = "webhook_legacy_signature"  # only v1's X-Signature, RSA-SHA1 (§8.4)
    WEBHOOK_PRODUCTION_KEY = "webhook_production_key"  # signed with the production stand-in key

    @property
    def outgoing(self) -> bool:
        """Whether it shapes a notification the sandbox sends rather than an answer."""
        return self.value.startswith("webhook_")

    @property
    def forged(self) -> bool:
        """Whether it makes the notification a forgery (sent once, never retried: not Wise's)."""
        return self in FORGERIES


FORGERIES = frozenset(
    {
        FaultKind.WEBHOOK_BAD_SIGNATURE,
        FaultKind.WEBHOOK_NO_SIGNATURE,
        FaultKind.WEBHOOK_LEGACY_SIGNATURE,
        FaultKind.WEBHOOK_PRODUCTION_KEY,
    }
)

GATEWAY_PAGE = (
    "<html>\r\n<head><title>{status} {phrase}</title></head>\r\n<body>\r\n<center><h1>{status} {phrase}"
    "</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


@dataclass(slots=True, eq=False)
class Fault:
    id: str
    kind: FaultKind
    path: str | None = None
    method: str | None = None
    grant_type: str | None = None
    client_id: str | None = None
    event_type: str | None = None  # outgoing kinds: a glob on the notification's event type
    times: int | None = 1  # None: always
    probability: float = 1.0
    status: int | None = None  # server_error: 500/502/503/504; gateway_html: 502/503/504
    retry_after: int = 60  # rate_limited; server_error 503 too when `retry_after_form` is given
    # None: delay-seconds on 429, none on a 5xx (RFC 9110 §10.2.3 pairs it with 503 and 3xx only)
    retry_after_form: RetryAfterForm | None = None
    clock_offset: float = 0.0  # http-date: seconds the receiver's clock runs ahead of this process's
    seconds: float = 1.0  # delay
    seed: int = 0
    fired: int = 0
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.kind = FaultKind(self.kind)
        if self.times is not None and self.times < 1:
            raise ValueError("'times' is at least 1 (or null for always)")
        if not 0.0 < self.probability <= 1.0:
            raise ValueError("'probability' is in (0, 1]")
        longest = MAX_OUTGOING_DELAY if self.kind.outgoing else MAX_DELAY  # outgoing: tenant clock
        if not 0.0 <= self.seconds <= longest:
            raise ValueError(f"'seconds' is between 0 and {longest:g}")
        if not 0 <= self.retry_after <= 86400:
            raise ValueError("'retry_after' is between 0 and 86400 seconds")
        if self.retry_after_form not in (None, *RETRY_AFTER_FORMS):
            raise ValueError(f"'retry_after_form' is one of {', '.join(RETRY_AFTER_FORMS)}")
        if self.retry_after_form is not None and not (
            self.kind is FaultKind.RATE_LIMITED
            or (self.kind is FaultKind.SERVER_ERROR and self.status == 503)
        ):
            raise ValueError("'retry_after_form' is for rate_limited, and server_error with status 503")
        if not abs(self.clock_offset) <= 100 * 365 * 86400:
            raise ValueError("'clock_offset' is within a hundred years")
        allowed = {
            FaultKind.SERVER_ERROR: (None, 500, 502, 503, 504),
            FaultKind.GATEWAY_HTML: (None, 502, 503, 504),
        }.get(self.kind, (None,))
        if self.status not in allowed:
            raise ValueError(f"'status' for {self.kind.value} is one of {[s for s in allowed if s]}")
        if self.kind.outgoing and any((self.path, self.method, self.grant_type, self.client_id)):
            raise ValueError(f"{self.kind.value} is scoped by 'event_type' only (it meets no request)")
        if self.event_type is not None and not self.kind.outgoing:
            raise ValueError("'event_type' scopes the webhook_* kinds only")
        if self.kind is FaultKind.INVALID_GRANT and self.grant_type is None:
            self.grant_type = "refresh_token"
        if self.kind is FaultKind.INVALID_GRANT and self.path is None:
            self.path = TOKEN_PATH
        self._rng = random.Random(self.seed)  # noqa: S311 - reproducible, not cryptographic

    def __setstate__(self, state: Any) -> None:
        """From a pickle (a state store's saved faults): a fault saved before a field existed gets
        that field's default."""
        for item in dataclasses.fields(self):
            if item.default is not dataclasses.MISSING:
                object.__setattr__(self, item.name, item.default)
        for part in state if isinstance(state, tuple) else (state,):
            for name, value in (part or {}).items():
                object.__setattr__(self, name, value)

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.fired >= self.times

    @property
    def label(self) -> str:
        return f"{self.kind.value}#{self.id}"

    def matches(
        self, path: str, method: str, grant_type: str | None, client_id: str | None, *aliases: str
    ) -> bool:
        """Whether this request is in the fault's scope. `path` is the route (`/v1/me`); `aliases`
        are the other names it was called by (`/2026Q3/me`, `/me`), which a path glob may name."""
        if self.exhausted or self.kind.outgoing:
            return False
        if self.kind is FaultKind.INVALID_TOKEN and path == TOKEN_PATH:
            return False  # "the next API call"
        pattern = self.path
        return (
            (pattern is None or any(fnmatchcase(p, pattern) for p in (path, *aliases)))
            and (self.method is None or self.method.upper() == method)
            and (self.grant_type is None or self.grant_type == grant_type)
            and (self.client_id is None or self.client_id == client_id)
        )

    def matches_event(self, event_type: str) -> bool:
        """Whether a notification of `event_type` is in this outgoing fault's scope."""
        if self.exhausted or not self.kind.outgoing:
            return False
        return self.event_type is None or fnmatchcase(event_type, self.event_type)

    def roll(self) -> bool:
        """Whether it fires this time (and count it if so)."""
        if self.probability < 1.0 and self._rng.random() >= self.probability:
            return False
        self.fired += 1
        return True

    def error(self) -> Exception:
        """What the request gets instead of its answer (DELAY has none: it answers late; the
        outgoing kinds answer nothing: they shape a notification)."""
        kind = self.kind
        if kind is FaultKind.SERVER_ERROR:
            return SpringError(self.status or 500, "No message available", self._retry_after_header())
        if kind is FaultKind.RATE_LIMITED:
            refusal = RateLimited(self.retry_after)
            del refusal.headers["Retry-After"]
            refusal.headers.update(self._retry_after_header())
            return refusal
        if kind is FaultKind.CONNECTION_RESET:
            return DropConnection()
        if kind is FaultKind.MALFORMED_JSON:
            return RawResponse(
                200, b'{"access_token":"8c5f0b1e-2d4a-4c7b', "application/json", "malformed_json"
            )
        if kind is FaultKind.GATEWAY_HTML:
            status = self.status or 502
            phrase = {502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out"}[
                status
            ]
            page = GATEWAY_PAGE.format(status=status, phrase=phrase).encode()
            return RawResponse(status, page, "text/html", "gateway_html")
        if kind is FaultKind.INVALID_GRANT:
            return invalid_grant("Invalid refresh token", reason="fault")
        if kind is FaultKind.INVALID_TOKEN:
            return invalid_token()
        raise AssertionError(kind)

    def _retry_after_header(self) -> dict[str, str]:
        """`Retry-After` as this fault writes it: delay-seconds, or the HTTP-date that far ahead on
        the receiver's clock, rounded up to a whole second so the wait is never shorter (an
        HTTP-date has whole seconds: RFC 9110 §5.6.7; the two forms: RFC 9110 §10.2.3)."""
        form = self.retry_after_form or ("seconds" if self.kind is FaultKind.RATE_LIMITED else "absent")
        if form == "absent":
            return {}
        if form == "seconds":
            return {"Retry-After": str(self.retry_after)}
        at = math.ceil(time.time() + self.clock_offset + self.retry_after)
        return {"Retry-After": formatdate(at, usegmt=True)}

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "path": self.path,
            "method": self.method,
            "grant_type": self.grant_type,
            "client_id": self.client_id,
            "event_type": self.event_type,
            "times": self.times,
            "probability": self.probability,
            "status": self.status,
            "retry_after": self.retry_after,
            "retry_after_form": self.retry_after_form,
            "clock_offset": self.clock_offset,
            "seconds": self.seconds,
            "seed": self.seed,
            "fired": self.fired,
            "exhausted": self.exhausted,
        }


class Faults:
    """A tenant's armed faults, tried in the order they were added (safe across threads: the
    server's loop takes shots while a test arms and disarms)."""

    def __init__(self, ledger: Ledger = NO_LEDGER) -> None:
        self._faults: list[Fault] = []
        self._next = 1  # the next fault's number (f1, f2...)
        self._lock = threading.Lock()
        self._ledger = ledger

    def add(self, kind: FaultKind | str, **scope: Any) -> Fault:
        with self._lock:
            fault = Fault(id=f"f{self._next}", kind=FaultKind(kind), **scope)
            self._next += 1
            self._faults.append(fault)
        self._ledger.changed("faults")
        return fault

    def take(
        self, path: str, method: str, grant_type: str | None, client_id: str | None, *aliases: str
    ) -> Fault | None:
        """The fault that fires for this request, if any (a shot is spent). Callers skip it when
        no fault is armed (`if tenant.faults`): it is on the path of every data-plane request."""
        with self._lock:
            fired = next(
                (
                    f
                    for f in self._faults
                    if f.matches(path, method, grant_type, client_id, *aliases) and f.roll()
                ),
                None,
            )
        if fired is not None:
            self._ledger.changed("faults")  # a shot was spent
        return fired

    def take_outgoing(self, event_type: str) -> list[Fault]:
        """The outgoing faults that fire for a notification of `event_type` being queued: the first
        armed of each kind (a shot of each is spent), in the order they were added."""
        fired: dict[FaultKind, Fault] = {}
        with self._lock:
            for fault in self._faults:
                if fault.kind not in fired and fault.matches_event(event_type) and fault.roll():
                    fired[fault.kind] = fault
        if fired:
            self._ledger.changed("faults")
        return list(fired.values())

    def remove(self, fault_id: str) -> None:
        with self._lock:
            before = len(self._faults)
            self._faults = [f for f in self._faults if f.id != fault_id]
            if len(self._faults) == before:
                raise LookupError(f"no fault {fault_id!r}")
        self._ledger.changed("faults")

    def clear(self) -> None:
        with self._lock:
            self._faults = []
        self._ledger.changed("faults")

    def snapshot(self) -> JSON:
        """The armed faults (a `Part`), each with its count of shots fired."""
        with self._lock:
            return to_data(self._faults)

    def restore(self, snapshot: JSON) -> None:
        faults = from_data(list[Fault], snapshot, "faults") if snapshot is not None else []
        with self._lock:
            self._faults = faults
            # ids stay unique across a restore (a state store brings faults back into a fresh process)
            numbers = [int(f.id[1:]) for f in self._faults if f.id[1:].isdigit()]
            self._next = max([self._next, *(n + 1 for n in numbers)])
        self._ledger.changed("faults")

    def __iter__(self) -> Iterator[Fault]:
        return iter(list(self._faults))

    def __len__(self) -> int:
        return len(self._faults)
