"""Transient failures retried a bounded number of times, with a pause, honouring Retry-After; refused
client credentials never retried."""

from __future__ import annotations

import itertools

from mockwise._domain.journal import Entry
from mockwise.contracts.checks.base import (
    MAX_ATTEMPTS,
    MIN_PAUSE,
    JudgeState,
    Obligation,
    Operation,
    _answered,
    _failure,
    _is_token,
    _transient,
)

TRANSIENT = ("5xx", "reset", "429")

OBLIGATIONS: tuple[Obligation, ...] = (
    Obligation(
        "RETRY-AFTER",
        "After a 429, or a 503 that says when to come back, the client waits at least Retry-After before "
        "trying again.",
        "reference §9; RFC 9110 §10.2.3 (delay-seconds or an HTTP-date)",
        "major",
        "within one operation, no request follows a 429 or 503 sooner than its Retry-After",
        situation="answers with a Retry-After",
        adversaries=tuple(f"{s} on the {w}" for s in ("429", "503") for w in ("token endpoint", "API")),
    ),
    Obligation(
        "RETRY-BOUNDED",
        "Transient failures (5xx, resets, gateway pages, bad bodies) are retried a bounded number of times, "
        "with a pause.",
        "reference §9 (exponential backoff)",
        "major",
        "in one operation, at most 4 attempts of a request after a transient failure, each 20 ms or more "
        "after the failure (the HTTP stack's one automatic retry of an idempotent request after a reset, "
        "RFC 9110 §9.2.2, is not an attempt)",
        situation="transient failures",
        adversaries=(
            *(f"{t} on the {w}" for t in TRANSIENT for w in ("token endpoint", "API")),
            "malformed_json on the token endpoint",
            "gateway_html on the API",
        ),
    ),
    Obligation(
        "NO-RETRY-INVALID-CLIENT",
        "Refused client credentials are not retried.",
        "reference §2.6",
        "major",
        "within one operation, no token request follows one answered 401 for the client's credentials",
        situation="refused client credentials",
        adversaries=("client_credentials", "refresh_token", "authorization_code"),
    ),
)


#: RFC 9110 §9.2.2: requests a user agent may retry automatically after a connection failure.
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})


def _automatic_retry(before: Entry, after: Entry) -> bool:
    """RETRY-BOUNDED judges the application's retries, not its HTTP stack's: RFC 9110 §9.2.2 lets
    a user agent retry an idempotent request once, automatically, when its connection failed before
    an answer came (the JDK's HttpClient does it at once for a GET on a reset connection, with no
    switch to turn it off; OkHttp too). The request after such a failure, with the same method, is
    taken as that retry: not an attempt of its own, and not held to the pause, however soon it came
    (the sandbox cannot tell an immediate retry from one a new connection's handshake delayed, and
    a verdict that turned on it would not replay). A retry of that retry is an attempt (the RFC: a
    client SHOULD NOT retry a failed automatic retry), which the caller sees to."""
    reset = before.status == 0 or before.error == "connection_reset"
    return reset and after.method == before.method and before.method in IDEMPOTENT


class RetryChecks(JudgeState):
    def _retries(self, op: Operation) -> None:
        entries = op.entries
        self._after_invalid_grant(entries)
        for i, entry in enumerate(entries):
            later = entries[i + 1 :]
            refused_client = entry.status == 401 and entry.error in ("unauthorized", "invalid_client")
            if _is_token(entry) and refused_client:
                self._saw("NO-RETRY-INVALID-CLIENT", entry.grant_type or "token request")
                retried = [e for e in later if _is_token(e)]
                if retried:
                    self._fail(
                        "NO-RETRY-INVALID-CLIENT",
                        "retried after its client credentials were refused",
                        entry,
                        retried[0],
                    )
            where = "token endpoint" if _is_token(entry) else "API"
            wait = self.wait(entry)
            if wait:  # RFC 9110 §10.2.3: a 429 or 503 saying when to come back
                self._saw("RETRY-AFTER", f"{entry.status} on the {where}")
                pause = later[0].wall - _answered(entry) if later else None
                if pause is not None and pause < wait * 0.95:
                    self._fail(
                        "RETRY-AFTER",
                        f"tried again {pause:.2f} s after a {entry.status} whose Retry-After asked for "
                        f"{wait:g} s",
                        entry,
                        later[0],
                    )
            if _transient(entry):
                self._saw("RETRY-BOUNDED", f"{_failure(entry)} on the {where}")
        attempts: dict[tuple[str, str | None], list[Entry]] = {}
        for entry in entries:
            attempts.setdefault((entry.route, entry.grant_type), []).append(entry)
        for same in attempts.values():
            streak = [same[0]]  # attempts in a row, each after a transient failure of the one before
            automatic = False  # whether the entry before was the HTTP stack's own retry
            for before, after in itertools.pairwise(same):
                if not _transient(before):
                    streak, automatic = [after], False
                    continue
                if not automatic and _automatic_retry(before, after):
                    automatic = True  # the stack's, not the application's: no attempt of its own
                    continue
                automatic = False
                streak.append(after)
                if len(streak) == MAX_ATTEMPTS + 1:
                    self._fail(
                        "RETRY-BOUNDED", f"more than {MAX_ATTEMPTS} attempts of one failing request", *streak
                    )
                # a Retry-After (even 0: "at once") says when; without one the client must pause
                if self.wait(before) is None and after.wall - _answered(before) < MIN_PAUSE:
                    self._fail("RETRY-BOUNDED", "retried a transient failure without pausing", before, after)

    def wait(self, entry: Entry) -> float | None:
        """The Retry-After, in seconds, the answer to `entry` carried (None: none)."""
        if not entry.fault or entry.status not in (429, 503):
            return None
        return self.waits.get(entry.fault.partition("#")[2])

    def _after_invalid_grant(self, entries: list[Entry]) -> None:
        """INVALID-GRANT-STOP when the invalid_grant was a fault: the sandbox answered before it read
        the form, so the journal cannot name the refresh token; within one operation, a refresh
        after it, with no new user tokens in between, sends that token again (an operation acts
        for one customer)."""
        dead: Entry | None = None
        for entry in entries:
            if not _is_token(entry):
                continue
            refresh = entry.grant_type == "refresh_token"
            if refresh and dead is not None:
                message = "sent a refresh token again after it was answered invalid_grant"
                self._fail("INVALID-GRANT-STOP", message, dead, entry)
                return
            if refresh and entry.error == "invalid_grant" and entry.token is None:
                dead = entry
            elif entry.status == 200 and entry.grant_type != "client_credentials":
                dead = None  # new user tokens since: a refresh may present the new refresh token
