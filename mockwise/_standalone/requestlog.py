r"""The console request log of `mockwise serve`: one compact line per request, as it is journaled.

    14:03:07.215 default  POST   /oauth/token 200 4.1ms grant=client_credentials
    14:03:09.871 default  GET    /v1/me 401 0.6ms invalid_token token=user:expired
    14:03:10.002 default  POST   /oauth/token 503 0.4ms grant=refresh_token fault=server_error#1
    14:03:11.540 default  GET    /v1/me 401 0.5ms invalid_token token=user:revoked(user_revoked_access)
    14:03:12.004 [control] POST  /_mockwise/tenants/default/clock/advance 200 0.9ms

Time (this machine's, when the request arrived), tenant (`-` when its credentials named none),
method, path, status, duration, then what applies: the error code answered, the grant type, the
kind and state of the token presented and, when it ended early, why, the fault that struck. Made
from a journal entry, which never holds a secret: no token or secret values, no form or query
values, and the path without its query string. Control-plane calls are logged too, with
`[control]` where the tenant goes (a tenant id cannot hold brackets), so that
`grep -v '\[control\]'` leaves the clients' traffic. Characters that could forge a line or colour
a terminal are escaped.
"""

from __future__ import annotations

import threading
import time
from typing import TextIO

from mockwise._domain.entries import ControlCall, Entry

MAX_PATH = 160  # characters of path shown; the rest is elided


def line(tenant: str | None, entry: Entry) -> str:
    """One request, as the console shows it."""
    millis = max(entry.done - entry.wall, 0.0) * 1000
    text = (
        f"{_time(entry.wall)} {_printable(tenant or '-'):<8} "
        f"{_printable(entry.method):<6} {_printable(entry.path, MAX_PATH)} {entry.status} {millis:.1f}ms"
    )
    if entry.error:
        text += " " + _printable(entry.error)
    if entry.grant_type:
        text += " grant=" + _printable(entry.grant_type)
    if entry.token_state:
        state = (
            f"{entry.token_state}({_printable(entry.token_cause)})"
            if entry.token_cause
            else entry.token_state
        )
        text += f" token={entry.token_kind}:{state}" if entry.token_kind else f" token={state}"
    if entry.fault:
        text += " fault=" + _printable(entry.fault)
    return text


def control_line(call: ControlCall) -> str:
    """One control-plane call, as the console shows it."""
    millis = max(call.done - call.wall, 0.0) * 1000
    return (
        f"{_time(call.wall)} [control] {_printable(call.method):<6} {_printable(call.path, MAX_PATH)} "
        f"{call.status} {millis:.1f}ms"
    )


_clock: tuple[int, str] = (-1, "")  # the last second shown, and how


def _time(wall: float) -> str:
    global _clock
    second = int(wall)
    cached = _clock  # one read: threads replace the tuple, never change it
    if cached[0] != second:  # strftime once a second, not once a request
        cached = _clock = (second, time.strftime("%H:%M:%S", time.localtime(second)))
    return f"{cached[1]}.{int((wall - second) * 1000):03d}"


class RequestLog:
    """A journal listener (`Sandbox.journal_listeners`) writing one line per request to `out`.

    A console that goes away (a closed pipe) ends the log, never the request."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._lock = threading.Lock()  # requests are recorded from the server loop and test threads
        self.closed = False

    def __call__(self, tenant: str | None, entry: Entry) -> None:
        if not self.closed:
            self._write(line(tenant, entry) + "\n")

    def control(self, call: ControlCall) -> None:
        """A control-plane listener (`Sandbox.control_listeners`)."""
        if not self.closed:
            self._write(control_line(call) + "\n")

    def _write(self, text: str) -> None:
        with self._lock:
            try:
                self.out.write(text)
                self.out.flush()
            except (OSError, ValueError):
                self.closed = True


def _printable(text: str, limit: int = 80) -> str:
    """`text` with control, format and non-ASCII characters escaped (a path is percent-decoded by
    the server, so `%0A` or `%1B` in a request would otherwise end or colour the line), clipped."""
    if len(text) > limit:
        text = text[:limit] + "..."
    if text.isascii() and text.isprintable():
        return text
    return "".join(
        c if c.isascii() and c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text
    )
