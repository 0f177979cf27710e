"""The judge: reads the sandbox's journal and the client's outcomes, and finds broken obligations.

It knows what the client was told (each token's `expires_in`) and how far the sandbox's clock has
run ahead of the client's (moves of the sandbox's clock alone), so a client is only blamed for what
it could have known: a token that expired early because only the sandbox's clock moved is excused;
one the client kept past the expiry it was given is not.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlparse

from contracts.adapter import Outcome
from contracts.obligations import catalog
from mockwise.domain.journal import Entry, describe

TOKEN_PATH = "/oauth/token"
ACCESS_LIFETIME = 43200.0
REQUIRED_PARAMS = {
    "client_credentials": {"grant_type"},
    "registration_code": {"grant_type", "client_id", "email", "registration_code"},
    "authorization_code": {"grant_type", "client_id", "code", "redirect_uri"},
    "refresh_token": {"grant_type", "refresh_token"},
}
SENSITIVE_QUERY = {"client_secret", "code", "refresh_token", "registration_code", "password", "access_token"}
DISRUPTIVE_FAULTS = ("server_error", "rate_limited", "connection_reset", "malformed_json", "gateway_html")
TRANSIENT_ERRORS = {"connection_reset", "malformed_json", "gateway_html", "rate_limited"}
MAX_ATTEMPTS = 4
MIN_PAUSE = 0.02
CC_RENEWAL_WINDOW = 3600.0  # a client may renew its client-credentials token in its last hour
REFRESH_MARGIN = 60.0


@dataclass
class Violation:
    obligation: str
    message: str
    step: int
    entries: list[Entry] = field(default_factory=list)

    def render(self) -> str:
        lines = [f"[{self.obligation}] step {self.step}: {self.message}"]
        lines += [f"    {describe(e)}" for e in self.entries]
        return "\n".join(lines)


@dataclass
class Operation:
    """One business operation the suite asked of the client, and what the sandbox saw meanwhile."""

    name: str
    step: int
    user: str | None = None
    outcome: Outcome | None = None
    url: str | None = None  # start_link's authorize URL
    entries: list[Entry] = field(default_factory=list)
    concurrent: bool = False
    expect: dict[str, Any] = field(default_factory=dict)

    def faults(self) -> list[str]:
        return [e.fault.split("#")[0] for e in self.entries if e.fault]


@dataclass
class Issued:
    kind: str  # "client_credentials" or "user"
    at: float  # tenant time
    skew: float  # the sandbox clock's lead over the client's, when it was issued
    user_id: int | None = None
    seq: int = 0  # the journal entry that issued it

    def client_expiry(self) -> float:
        """When the client was told it expires, on the client's own clock."""
        return self.at - self.skew + ACCESS_LIFETIME


class Judge:
    def __init__(
        self,
        client_id: str,
        redirect_uri: str,
        profile: str = "wise",
        retry_after: float = 1.0,
        mtls: bool = False,
    ) -> None:
        self.client_id = client_id
        self.mtls = mtls  # the sandbox serves an mTLS host: the partner must present its certificate
        self.impostor = False  # a man in the middle answers new connections: nothing can work
        self.redirect_uri = redirect_uri
        self.active = {o.id for o in catalog(profile)}
        self.retry_after = retry_after
        self.violations: list[Violation] = []
        self.step = 0
        self.skew = 0.0
        self.issued: dict[str, Issued] = {}
        self.refused: set[str] = set()  # tokens an API call got a 401 for
        self.ended: set[str] = set()  # tokens a server move ended (the client may not know yet)
        self.dead_refresh: dict[str, float] = {}  # token id -> when the client had its invalid_grant
        self.dead_registration: dict[int, float] = {}
        self.retries_after_death: Counter[str | int] = Counter()
        self.in_flight: Counter[str] = Counter()
        self.concurrency = 1  # workers acting at once while the entries being observed were made
        self.batch_start = 0  # the journal's last entry before those workers began (see `observe`)
        self.codes: Counter[str] = Counter()
        self.states: set[str] = set()
        self.partner_workers = 1

    # Knowledge from server moves ----------------------------------------------------------------

    def sandbox_clock_moved(self, seconds: float) -> None:
        """Only the sandbox's clock moved: it now runs further ahead of the client's."""
        self.skew += seconds

    def tokens_ended(self, token_ids: Iterable[str]) -> None:
        self.ended.update(token_ids)

    def workers(self, count: int) -> None:
        self.partner_workers = max(self.partner_workers, count)

    # Verdicts -----------------------------------------------------------------------------------

    def _fail(self, obligation: str, message: str, *entries: Entry) -> None:
        if obligation in self.active:
            self.violations.append(Violation(obligation, message, self.step, list(entries)))

    # Entries: what the client sent --------------------------------------------------------------

    def observe(
        self, entries: Iterable[Entry], step: int, *, concurrency: int = 1, batch_start: int = 0
    ) -> None:
        """Judge what the client sent during `step`: `concurrency` workers at once, begun after the
        journal's entry `batch_start`."""
        self.step, self.concurrency, self.batch_start = step, concurrency, batch_start
        for entry in entries:
            if entry.server_cert is not None:
                self._fail(
                    "VERIFY-SERVER",
                    f"talked over a connection whose server certificate ({entry.server_cert}) the sandbox CA "
                    "never signed",
                    entry,
                )
            if entry.sca is not None and entry.sca.startswith("challenged:pending"):
                self._fail("SCA-CLEARED", "sent a one-time token whose challenges were not cleared", entry)
            if entry.sca is not None and entry.sca.startswith("challenged:reused"):
                self._fail("SCA-ONE-USE", "sent a one-time token that had already approved a request", entry)
            if self.mtls and entry.client_id == self.client_id and entry.cert is None:
                self._fail("MTLS-PRESENT", "a request without the partner's client certificate", entry)
            if set(entry.query) & SENSITIVE_QUERY:
                names = ", ".join(sorted(set(entry.query) & SENSITIVE_QUERY))
                self._fail(
                    "SECRET-NOT-IN-URL", f"{names} sent in the URL of {entry.method} {entry.path}", entry
                )
            if entry.route == TOKEN_PATH:
                self._token_request(entry)
            elif entry.token is not None:
                self._api_call(entry)

    def _token_request(self, entry: Entry) -> None:
        if not entry.basic_auth or "grant_type" not in entry.params:
            how = "without HTTP Basic" if not entry.basic_auth else "without a form body"
            self._fail("AUTH-BASIC", f"a token request {how}", entry)
        grant = entry.grant_type
        missing = REQUIRED_PARAMS.get(grant or "", set()) - set(entry.params)
        if missing:
            self._fail("GRANT-PARAMS", f"{grant} grant without {', '.join(sorted(missing))}", entry)
        if entry.reason == "redirect_uri_mismatch":
            self._fail(
                "REDIRECT-EXACT",
                "the code exchange sent a redirect_uri that is not the registered one",
                entry,
            )
        # Blame only requests sent after the client had the invalid_grant answer (not concurrent ones);
        # uncoordinated workers may each discover a dead credential once; a loop is never excused.
        if grant == "refresh_token" and entry.token is not None:
            if entry.wall > self.dead_refresh.get(entry.token, float("inf")) and self._again(entry.token):
                self._fail("INVALID-GRANT-STOP", "sent a refresh token already answered invalid_grant", entry)
            if entry.error == "invalid_grant":
                self.dead_refresh.setdefault(entry.token, entry.done)
        if grant == "registration_code" and entry.user_id is not None:
            dead_since = self.dead_registration.get(entry.user_id, float("inf"))
            if entry.wall > dead_since and self._again(entry.user_id):
                self._fail(
                    "INVALID-GRANT-STOP", "sent a registration code already answered invalid_grant", entry
                )
            if entry.error == "invalid_grant" and entry.reason in ("reclaimed", "user_credentials"):
                self.dead_registration.setdefault(entry.user_id, entry.done)
        if grant == "authorization_code" and entry.token is not None:
            self.codes[entry.token] += 1
            if self.codes[entry.token] == 2:
                self._fail("CODE-ONCE", "exchanged the same authorization code twice", entry)
        if entry.status == 200 and entry.issued is not None:
            kind = "client_credentials" if grant == "client_credentials" else "user"
            if kind == "client_credentials":
                self._cc_reuse(entry)
            self.issued[entry.issued] = Issued(kind, entry.at, self.skew, entry.user_id, entry.seq)

    def _again(self, credential: str | int) -> bool:
        """Whether this is a use beyond the one each concurrent worker is allowed."""
        self.retries_after_death[credential] += 1
        return self.retries_after_death[credential] > self.concurrency - 1

    def _cc_reuse(self, entry: Entry) -> None:
        client_now = entry.at - self.skew
        held = [
            token_id
            for token_id, info in self.issued.items()
            if info.kind == "client_credentials"
            and token_id not in self.refused
            and token_id not in self.ended
            and info.client_expiry() - client_now > CC_RENEWAL_WINDOW
        ]
        if len(held) >= self.partner_workers:
            self._fail(
                "CC-REUSE",
                f"fetched a client-credentials token while holding {len(held)} with over an hour to live "
                f"({self.partner_workers} worker(s))",
                entry,
            )

    def _api_call(self, entry: Entry) -> None:
        token = entry.token
        assert token is not None
        if entry.status == 401:
            self.refused.add(token)
        info = self.issued.get(token)
        if info is None:
            return
        left = info.client_expiry() - (entry.at - self.skew)
        if entry.token_state == "superseded" and info.kind == "user":
            # The most specific fault: a replaced token is stale, whether or not it also expired.
            # Excused: each worker's one request already in flight with the token that was current
            # when the workers began (it read the token before another worker's refresh replaced it).
            excused = False
            if self.concurrency > 1 and info.seq <= self.batch_start:
                self.in_flight[token] += 1
                excused = self.in_flight[token] <= self.concurrency
            if not excused:
                self._fail(
                    "USER-NO-STALE", "sent a user access token that a refresh had already replaced", entry
                )
        elif left <= 0:
            obligation = "CC-NO-EXPIRED" if info.kind == "client_credentials" else "USER-NO-EXPIRED"
            self._fail(obligation, f"sent a token {int(-left)} s past the expiry it was given", entry)
        elif info.kind == "user" and left < REFRESH_MARGIN:
            self._fail("REFRESH-EARLY", f"sent a user token with only {int(left)} s left", entry)

    # Operations: what the client did and said ---------------------------------------------------

    def judge(self, op: Operation) -> None:
        self.step = op.step
        if not op.concurrent:
            self._retries(op)
        getattr(self, f"_op_{op.name}", lambda op: None)(op)

    def _retries(self, op: Operation) -> None:
        entries = op.entries
        for i, entry in enumerate(entries):
            later = entries[i + 1 :]
            refused_client = entry.status == 401 and entry.error in ("unauthorized", "invalid_client")
            if entry.route == TOKEN_PATH and refused_client:
                retried = [e for e in later if e.route == TOKEN_PATH]
                if retried:
                    self._fail(
                        "NO-RETRY-INVALID-CLIENT",
                        "retried after its client credentials were refused",
                        entry,
                        retried[0],
                    )
            if entry.status == 429 and later:
                pause = later[0].wall - _answered(entry)
                if pause < self.retry_after * 0.95:
                    self._fail(
                        "RETRY-AFTER",
                        f"tried again {pause:.2f} s after a 429 that asked for {self.retry_after:g} s",
                        entry,
                        later[0],
                    )
        attempts: dict[tuple[str, str | None], list[Entry]] = {}
        for entry in entries:
            attempts.setdefault((entry.route, entry.grant_type), []).append(entry)
        for same in attempts.values():
            streak = [same[0]]  # attempts in a row, each after a transient failure of the one before
            for before, after in itertools.pairwise(same):
                if not _transient(before):
                    streak = [after]
                    continue
                streak.append(after)
                if len(streak) == MAX_ATTEMPTS + 1:
                    self._fail(
                        "RETRY-BOUNDED", f"more than {MAX_ATTEMPTS} attempts of one failing request", *streak
                    )
                if before.status != 429 and after.wall - _answered(before) < MIN_PAUSE:
                    self._fail("RETRY-BOUNDED", "retried a transient failure without pausing", before, after)

    def _outcome_rules(self, op: Operation) -> None:
        outcome = op.outcome
        assert outcome is not None
        disrupted = self._disrupted(op)
        if op.expect.get("registration_code_alive") and outcome.status == "relink_needed":
            # Even when the partner's own credentials are refused: that is no reason to drop the
            # customer, whose registration code works again once the secret is deployed.
            why = "" if op.expect.get("deployed", True) else " (once the partner's secret is fixed)"
            self._fail(
                "REGCODE-FALLBACK",
                f"{op.name}({op.user}) gave up with relink_needed; the stored registration code still "
                f"works{why}",
                *op.entries[-3:],
            )
        elif op.expect.get("relink") and not disrupted and outcome.status != "relink_needed":
            self._fail(
                "RELINK-REPORTED",
                f"{op.name}({op.user}) answered {outcome}; the user's tokens are gone: a re-link is needed",
                *op.entries[-3:],
            )
        elif not disrupted:
            self._works(op)

    def _disrupted(self, op: Operation) -> bool:
        """An impostor or a disruptive fault was in the way, or a token was refused again after
        the one renewal a refusal calls for: no answer is wrong."""
        faults = op.faults()
        # an injected invalid_token on top of a natural refusal (an expired token) counts too: the
        # fault strikes the first request that authenticates, which may be the renewal's retry
        refused = sum(1 for e in op.entries if e.error == "invalid_token")
        refused_again = "invalid_token" in faults and refused > 1
        return self.impostor or refused_again or any(kind in DISRUPTIVE_FAULTS for kind in faults)

    def _works(self, op: Operation) -> None:
        """WORKS, unless an obligation broken in the same step already explains the failure."""
        outcome = op.outcome
        assert outcome is not None
        if (
            op.expect.get("works")
            and outcome.status != "ok"
            and outcome.kind != "unsupported"
            and not any(v.step == op.step for v in self.violations)
        ):
            what = f"{op.name}({op.user or ''})"
            self._fail("WORKS", f"{what} answered {outcome} though nothing was wrong", *op.entries[-3:])

    _op_partner_call = _outcome_rules
    _op_create_user = _outcome_rules
    _op_user_call = _outcome_rules
    _op_fund_transfer = _outcome_rules

    def _op_start_link(self, op: Operation) -> None:
        assert op.url is not None
        query = {k: v[0] for k, v in parse_qs(urlparse(op.url).query, keep_blank_values=True).items()}
        if query.get("redirect_uri") != self.redirect_uri or query.get("client_id") != self.client_id:
            self._fail(
                "REDIRECT-EXACT",
                f"authorize URL has client_id={query.get('client_id')!r}, "
                f"redirect_uri={query.get('redirect_uri')!r}; "
                f"registered: {self.client_id!r}, {self.redirect_uri!r}",
            )
        state = query.get("state", "")
        if len(state) < 16:
            self._fail(
                "STATE-CHECKED", f"the authorize URL's state is {len(state)} characters long (16+ needed)"
            )
        elif state in self.states:
            self._fail("STATE-CHECKED", "the authorize URL reuses a state from an earlier link")
        self.states.add(state)

    def _op_finish_link(self, op: Operation) -> None:
        outcome = op.outcome
        assert outcome is not None
        exchanged = [e for e in op.entries if e.grant_type == "authorization_code"]
        if op.expect.get("tampered"):
            if exchanged or outcome.kind != "state_mismatch":
                self._fail(
                    "STATE-CHECKED",
                    f"accepted a redirect whose state was not its own (answered {outcome})",
                    *exchanged,
                )
            return
        if op.expect.get("wrong_dob"):
            if outcome.status == "ok":
                self._fail(
                    "DOB-CHECK",
                    "linked a profile whose date of birth is not the customer's",
                    *op.entries[-2:],
                )
            return
        # a faked invalid_grant on the new tokens' first refresh leaves nothing to link with
        if not self._disrupted(op) and "invalid_grant" not in op.faults():
            self._works(op)


def _answered(entry: Entry) -> float:
    """When the client had the answer: pauses are counted from there, not from the request."""
    return entry.done or entry.wall


def _transient(entry: Entry) -> bool:
    return (
        entry.status >= 500 or entry.status == 429 or (entry.error in TRANSIENT_ERRORS) or entry.status == 0
    )
