"""The judge: reads the sandbox's journal and the client's outcomes, and finds broken obligations.

It knows what the client was told (each token's `expires_in`, and `expires_at` when the response
had it) and how far the sandbox's clock has run ahead of the client's (moves of the sandbox's clock
alone), so a client is only blamed for what it could have known: a token that expired early
because only the sandbox's clock moved is excused; one the client kept past the expiry it was given
is not.

It also counts, for every obligation, the situations that put it to the test (`situations`): an
obligation whose situation never occurred was not exercised, and is never reported as kept.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlparse

from mockwise._domain.journal import Entry, describe
from mockwise.contracts.adapter import Outcome
from mockwise.contracts.obligations import catalog

TOKEN_PATH = "/oauth/token"
ACCESS_LIFETIME = 43200.0  # the sandbox's default (`oauth.access_token_lifetime`): 12 hours (§2.4)
REQUIRED_PARAMS = {
    "client_credentials": {"grant_type"},
    "registration_code": {"grant_type", "client_id", "email", "registration_code"},
    "authorization_code": {"grant_type", "client_id", "code", "redirect_uri"},
    "refresh_token": {"grant_type", "refresh_token"},
}
SENSITIVE_QUERY = {"client_secret", "code", "refresh_token", "registration_code", "password", "access_token"}
DISRUPTIVE_FAULTS = ("server_error", "rate_limited", "connection_reset", "malformed_json", "gateway_html")
#: Obligations whose breach makes Wise refuse what follows (a dead, replaced or wrong token, a
#: burnt code, a refused certificate...): only these excuse a failed operation (WORKS,
#: RELINK-REPORTED), and only in the operation that broke them or later for the same customer.
CAUSES_FAILURE = frozenset({
    "AUTH-BASIC", "GRANT-PARAMS", "CC-NO-EXPIRED", "USER-NO-EXPIRED", "USER-NO-STALE", "USER-OWN-TOKEN",
    "INVALID-GRANT-STOP", "REDIRECT-EXACT", "CODE-ONCE", "MTLS-PRESENT", "VERIFY-SERVER", "USER-REUSE",
    "SCA-CLEARED", "SCA-ONE-USE", "STATE-CHECKED", "DOB-CHECK", "LINK-KEPT", "RELINK-REPLACES",
})  # fmt: skip
TRANSIENT_ERRORS = {"connection_reset", "malformed_json", "gateway_html", "rate_limited"}
MAX_ATTEMPTS = 4
MIN_PAUSE = 0.02
CC_RENEWAL_WINDOW = 3600.0  # a client may renew its client-credentials token in its last hour
REUSE_WINDOW = 7200.0  # a customer's token received less than two hours ago is not renewed without need
REFRESH_MARGIN = 60.0
PARTNER_PATHS = ("/v1/users/exists", "/v1/user/signup/")  # what a client-credentials token is for
CUSTOMER_OPS = ("user_call", "fund_transfer", "finish_link")


@dataclass
class Violation:
    obligation: str
    message: str
    step: int
    entries: list[Entry] = field(default_factory=list)
    user: int | None = None  # the customer it was broken for

    def render(self) -> str:
        lines = [f"[{self.obligation}] step {self.step}: {self.message}"]
        lines += [f"    {describe(e)}" for e in self.entries]
        return "\n".join(lines)


@dataclass
class Operation:
    """One business operation the suite asked of the client, and what the sandbox saw meanwhile."""

    name: str
    step: int
    user: str | None = None  # the customer's key
    user_id: int | None = None  # the customer's Wise user id, when known
    outcome: Outcome | None = None
    url: str | None = None  # start_link's authorize URL
    entries: list[Entry] = field(default_factory=list)
    concurrent: bool = False
    expect: dict[str, Any] = field(default_factory=dict)
    links: frozenset[int] = frozenset()  # the token lineages the client holds for this customer

    def faults(self) -> list[str]:
        return [e.fault.split("#")[0] for e in self.entries if e.fault]


@dataclass
class Issued:
    """An access token the client received, and what it was told about its life."""

    kind: str  # "client_credentials" or "user"
    at: float  # tenant time
    skew: float  # the sandbox clock's lead over the client's, when it was issued
    user_id: int | None = None
    seq: int = 0  # the journal entry that issued it
    absolute: bool = False  # the response also gave `expires_at` (an instant on the sandbox's clock)
    link: int | None = None  # its lineage (user tokens)
    grant: str | None = None
    token: str = ""  # its id in the journal
    lifetime: float = ACCESS_LIFETIME  # how long it lives on the sandbox's clock
    told: bool = True  # the response gave `expires_in` (RFC 6749 §5.1: RECOMMENDED, not required)

    def received(self) -> float:
        """When the client got it, on the client's own clock."""
        return self.at - self.skew

    def client_expiry(self, earliest: bool = False) -> float | None:
        """When the client was told it expires, on the client's own clock: `expires_in` after it
        arrived, or the `expires_at` instant if the response said so (a client may go by either:
        the later for "it was still good", the earlier for "it was due"); None when it was told
        neither (it can only learn from a 401)."""
        at = self.at + self.lifetime
        if not self.told:
            return at if self.absolute else None
        told = self.received() + self.lifetime - 1  # `expires_in: 43199` for a 12-hour token (§2.3)
        if not self.absolute:
            return told
        return min(told, at) if earliest else max(told, at)

    def left(self, client_now: float) -> float:
        """Seconds of life left, as the client was told; told nothing, as Wise documents a token's
        life (12 hours, §2.4: what a client may go by) unless it really ends sooner."""
        told = self.client_expiry(earliest=True)
        if told is None:
            told = min(self.at + self.lifetime, self.received() + ACCESS_LIFETIME - 1)
        return told - client_now


class Judge:
    def __init__(
        self,
        client_id: str,
        redirect_uri: str,
        profile: str = "wise",
        mtls: bool = False,
        absolute_expiry: bool = True,
        lifetime: float = ACCESS_LIFETIME,
        told_expiry: bool = True,
    ) -> None:
        self.client_id = client_id
        self.mtls = mtls  # the sandbox serves an mTLS host: the partner must present its certificate
        self.absolute_expiry = absolute_expiry  # token responses carry `expires_at` (§2.3)
        self.impostor = False  # a man in the middle answers new connections: nothing can work
        self.redirect_uri = redirect_uri
        self.active = {o.id for o in catalog(profile)}
        self.lifetime = lifetime  # of access tokens, on the sandbox's clock
        self.told_expiry = told_expiry  # token responses carry `expires_in`
        # each armed fault's Retry-After, in seconds (None: the answer carries none), by fault id
        self.waits: dict[str, float | None] = {}
        # failed operations excused, by the obligation whose breach caused them
        self.excused: Counter[str] = Counter()
        self.unfinished: dict[int, str] = {}  # customers whose last link attempt was declined or abandoned
        self.replaced_links: set[int] = set()  # lineages a customer's own re-link replaced (§2.5)
        self.violations: list[Violation] = []
        self.situations: dict[str, Counter[str]] = defaultdict(Counter)
        self.unsupported: set[str] = set()  # operations the client answered `unsupported`
        self.step = 0
        self.skew = 0.0
        self.issued: dict[str, Issued] = {}
        self.links: dict[str, int] = {}  # token id -> lineage, as the sandbox knows it
        self.refused: set[str] = set()  # tokens an API call got a 401 for
        self.ended: set[str] = set()  # tokens a server move ended (the client may not know yet)
        self.dead_refresh: dict[str, float] = {}  # token id -> when the client had its invalid_grant
        self.dead_registration: dict[int, float] = {}
        self.retries_after_death: Counter[str | int] = Counter()
        self.in_flight: Counter[str] = Counter()
        self.replaced_by: dict[str, Entry] = {}  # access token -> the refresh that superseded it
        self.used_refresh: dict[str, Entry] = {}  # refresh token -> the successful refresh with it
        self.concurrency = 1  # workers acting at once while the entries being observed were made
        self.batch_start = 0  # the journal's last entry before those workers began (see `observe`)
        self.batch_refreshes: dict[int, Entry] = {}  # lineage -> the first refresh of this batch
        self.op_links: frozenset[int] = frozenset()
        self.op_user: int | None = None
        self.codes: Counter[str] = Counter()
        self.states: set[str] = set()
        self.approved = 0  # one-time tokens that approved a request
        self.owner_checked = 0  # the step whose requests USER-OWN-TOKEN has judged
        # customers an obligation that makes Wise refuse was broken for (the first such): what
        # follows for them may be its doing
        self.tainted: dict[int, str] = {}
        self.presented: set[str] = set()  # access tokens the client has used
        self.refusals = 0
        self.partner_workers = 1

    # Knowledge from server moves ----------------------------------------------------------------

    def sandbox_clock_moved(self, seconds: float) -> None:
        """Only the sandbox's clock moved: it now runs further ahead of the client's."""
        self.skew += seconds

    def tokens_ended(self, token_ids: Iterable[str]) -> None:
        self.ended.update(token_ids)

    def learn_links(self, links: dict[str, int]) -> None:
        """Which lineage each token belongs to (from the sandbox's token list)."""
        self.links.update(links)
        for token_id, info in self.issued.items():
            if info.link is None and token_id in links:
                info.link = links[token_id]

    def link_attempt(self, user_id: int | None, how: str) -> None:
        """A customer's link attempt was declined or abandoned: their next operations must work."""
        if user_id is not None:
            self.unfinished[user_id] = how

    def relinked(self, user_id: int | None, replaced: set[int]) -> None:
        """A customer linked again, and the new grant ended these lineages' refresh tokens (§2.5)."""
        if user_id is not None:
            self.unfinished.pop(user_id, None)
        if replaced:
            self._saw("RELINK-REPLACES", "re-link")
            self.replaced_links |= replaced

    def workers(self, count: int) -> None:
        self.partner_workers = max(self.partner_workers, count)

    # Verdicts -----------------------------------------------------------------------------------

    def _fail(self, obligation: str, message: str, *entries: Entry) -> None:
        if obligation in self.active:
            self.violations.append(Violation(obligation, message, self.step, list(entries), self.op_user))
            if self.op_user is not None and obligation in CAUSES_FAILURE:
                self.tainted.setdefault(self.op_user, obligation)

    def _saw(self, obligation: str, kind: str) -> None:
        self.situations[obligation][kind] += 1

    # Before an operation: the situations it meets -----------------------------------------------

    def begin(self, op: Operation, now: float) -> None:
        """The client is about to do `op` at tenant time `now`: count what it is put to."""
        client_now = now - self.skew
        if self.impostor:
            self._saw("VERIFY-SERVER", "partner" if op.user is None else "customer")
        customers = {i.user_id for i in self.issued.values() if i.kind == "user" and i.user_id is not None}
        if op.name == "partner_call":
            held = self.newest("client_credentials", None)
            if held is not None:
                self._saw("CC-REUSE", "a live token")
                self._due("CC-NO-EXPIRED", None, held, client_now)
            if customers:
                self._saw("USER-OWN-TOKEN", "partner call")
        if op.name in CUSTOMER_OPS and op.links:
            current = self.newest("user", op.links)
            if current is not None:
                self._due("USER-NO-EXPIRED", "REFRESH-EARLY", current, client_now)
                if self._young(current, client_now) and self._usable(current):
                    self._saw("USER-REUSE", "a token under two hours old")
            if len(customers - {op.user_id}) >= 1:
                self._saw("USER-OWN-TOKEN", "customer call")
        if op.name == "fund_transfer" and self.approved:
            self._saw("SCA-ONE-USE", "a transfer after an approved one")

    def _due(self, expired: str, early: str | None, held: Issued, client_now: float) -> None:
        expiry = held.client_expiry()
        if not self._usable(held) or expiry is None:
            return  # the client was told it is dead (or will be), or never told when it expires
        left = expiry - client_now
        if left <= 0:
            self._saw(expired, "past the told expiry" if left < -1 else "at the told expiry")
            if early:
                self._saw(early, "past the told expiry")
        elif left < _margin(held) and early:
            self._saw(early, "in the last minute")

    def _young(self, info: Issued, client_now: float) -> bool:
        """Whether a token has hours left: received less than two hours before, with more than an
        hour and more than half its life to go (a token told it lives a second is always due)."""
        left = info.left(client_now)
        return (
            client_now - info.received() < REUSE_WINDOW
            and left > CC_RENEWAL_WINDOW
            and left > info.lifetime / 2
        )

    def _usable(self, info: Issued) -> bool:
        """Whether a token the client holds still works, as far as it was told."""
        return info.token not in self.refused and info.token not in self.ended

    def newest(self, kind: str, links: frozenset[int] | None) -> Issued | None:
        """The newest access token of `kind` the client received (of these lineages)."""
        found = [
            info
            for info in self.issued.values()
            if info.kind == kind and (links is None or info.link in links)
        ]
        return max(found, key=lambda i: i.seq, default=None)

    # Entries: what the client sent --------------------------------------------------------------

    def observe(
        self,
        entries: Iterable[Entry],
        step: int,
        *,
        concurrency: int = 1,
        batch_start: int = 0,
        links: frozenset[int] = frozenset(),
        user_id: int | None = None,
    ) -> None:
        """Judge what the client sent during `step`: `concurrency` workers at once, begun after the
        journal's entry `batch_start`, for the customer whose lineages are `links`."""
        self.step, self.concurrency, self.batch_start = step, concurrency, batch_start
        self.op_links, self.op_user = links, user_id
        self.batch_refreshes = {}
        self.refusals = 0  # API calls answered 401 so far in these entries: new tokens are due
        for entry in entries:
            self._saw("SECRET-NOT-IN-URL", "token endpoint" if _is_token(entry) else "API")
            if entry.server_cert is not None:
                self._fail(
                    "VERIFY-SERVER",
                    f"talked over a connection whose server certificate ({entry.server_cert}) the sandbox CA "
                    "never signed",
                    entry,
                )
            if entry.sca is not None:
                self._sca(entry)
            if self.mtls and entry.client_id == self.client_id:
                self._saw("MTLS-PRESENT", "token endpoint" if _is_token(entry) else "API")
                if entry.cert is None:
                    self._fail("MTLS-PRESENT", "a request without the partner's client certificate", entry)
            if set(entry.query) & SENSITIVE_QUERY:
                names = ", ".join(sorted(set(entry.query) & SENSITIVE_QUERY))
                self._fail(
                    "SECRET-NOT-IN-URL", f"{names} sent in the URL of {entry.method} {entry.path}", entry
                )
            if _is_token(entry):
                self._token_request(entry)
                continue
            if entry.status == 401:  # whatever it presented (even a token the sandbox never issued)
                self.refusals += 1
            if entry.token is not None:
                self.presented.add(entry.token)
                self._api_call(entry)

    def _sca(self, entry: Entry) -> None:
        sca = entry.sca or ""
        if sca.startswith("challenged:pending"):
            self._fail("SCA-CLEARED", "sent a one-time token whose challenges were not cleared", entry)
        elif sca.startswith("challenged:reused"):
            self._fail("SCA-ONE-USE", "sent a one-time token that had already approved a request", entry)
        elif sca.startswith("challenged:"):
            self._saw("SCA-CLEARED", "challenge")
        if sca.startswith("approved:"):
            self.approved += 1

    def _token_request(self, entry: Entry) -> None:
        grant = entry.grant_type
        self._saw("AUTH-BASIC", grant or "no grant")
        self._saw("GRANT-PARAMS", grant or "no grant")
        if not entry.basic_auth or "grant_type" not in entry.params:
            how = "without HTTP Basic" if not entry.basic_auth else "without a form body"
            self._fail("AUTH-BASIC", f"a token request {how}", entry)
        missing = REQUIRED_PARAMS.get(grant or "", set()) - set(entry.params)
        if missing:
            self._fail("GRANT-PARAMS", f"{grant} grant without {', '.join(sorted(missing))}", entry)
        if entry.reason == "redirect_uri_mismatch":
            self._fail(
                "REDIRECT-EXACT",
                "the code exchange sent a redirect_uri that is not the registered one",
                entry,
            )
        if entry.error == "invalid_grant" and grant in ("refresh_token", "registration_code"):
            self._saw("INVALID-GRANT-STOP", entry.reason or "invalid_grant")
        if grant == "refresh_token" and entry.token is not None:
            self._refresh(entry, entry.token)
        if grant == "registration_code" and entry.user_id is not None:
            self._registration(entry, entry.user_id)
        if grant == "authorization_code" and entry.token is not None:
            self.codes[entry.token] += 1
            self._saw("CODE-ONCE", "exchange" if self.codes[entry.token] == 1 else "again")
            if self.codes[entry.token] == 2:
                self._fail("CODE-ONCE", "exchanged the same authorization code twice", entry)
        if entry.status == 200 and entry.issued is not None:
            self._issued(entry, grant)

    def _issued(self, entry: Entry, grant: str | None) -> None:
        assert entry.issued is not None
        kind = "client_credentials" if grant == "client_credentials" else "user"
        if kind == "client_credentials":
            self._cc_reuse(entry)
        known = self.issued.get(entry.issued)
        if known is not None:
            # the live token again (Spring's token store, client_credentials_reuse), with what is left
            # of its life: a client renewing in its last seconds cannot get a fresher one, so it is
            # blamed only past the token's real end
            known.absolute = known.absolute or self.told_expiry
            return
        link = self.links.get(entry.token or "") if grant == "refresh_token" else None
        self.issued[entry.issued] = Issued(
            kind,
            entry.at,
            self.skew,
            entry.user_id,
            entry.seq,
            self.absolute_expiry,
            link,
            grant,
            entry.issued,
            self.lifetime,
            self.told_expiry,
        )
        if link is not None:
            self.links[entry.issued] = link

    def _refresh(self, entry: Entry, refresh: str) -> None:
        # Blame only requests sent after the client had the invalid_grant answer (not concurrent ones);
        # uncoordinated workers may each discover a dead credential once; a loop is never excused.
        if entry.wall > self.dead_refresh.get(refresh, float("inf")) and self._again(refresh):
            self._fail("INVALID-GRANT-STOP", "sent a refresh token already answered invalid_grant", entry)
        if entry.error == "invalid_grant":
            self.dead_refresh.setdefault(refresh, entry.done)
        link = self.links.get(refresh)
        if link in self.replaced_links:
            self._fail(
                "RELINK-REPLACES",
                "sent the refresh token of a link the customer had replaced by linking again (the new "
                "grant killed it, §2.5)",
                entry,
            )
        current = self.newest("user", frozenset({link})) if link is not None else None
        first = self.batch_refreshes.get(link) if link is not None and self.concurrency > 1 else None
        if entry.token_state == "superseded" and entry.token_cause == "rotated":
            self._rotated(entry, refresh)
        elif first is not None:
            self._second_refresh(first, entry, current)
        elif current is not None:
            self._reuse(entry, current, "refreshed")
        if link is not None and self.concurrency > 1:
            self.batch_refreshes.setdefault(link, entry)
        if entry.status == 200:
            self._saw("USER-NO-STALE", "concurrent refresh" if self.concurrency > 1 else "refresh")
            if current is not None:
                self.replaced_by[current.token] = entry
            self.used_refresh.setdefault(refresh, entry)

    def _second_refresh(self, first: Entry, entry: Entry, current: Issued | None) -> None:
        """A second refresh of one lineage among workers acting at once. Sent while the first was
        unanswered, two workers refreshed at once; sent after it succeeded, a worker refreshed a
        token another had just refreshed (it decided on what it read before). Either way each
        refresh kills the access token of the one before. Excused: after a failed first refresh,
        once the newest token was refused, or when it is already due (a token told it lives a
        second is due the moment it arrives)."""
        if entry.wall < _answered(first):
            how = f"two workers refreshed this customer's token at once (#{first.seq} and #{entry.seq})"
        elif first.status == 200 and (
            current is None
            or (current.token not in self.refused and self._young(current, entry.at - self.skew))
        ):
            how = (
                f"a worker refreshed this customer's token (#{entry.seq}) right after another worker "
                f"had refreshed it with the same refresh token (#{first.seq})"
            )
        else:
            return
        self._fail(
            "USER-NO-STALE",
            f"{how}: refreshes for one customer are not serialised, and each kills the access token "
            "the other worker holds",
            first,
            entry,
        )

    def _rotated(self, entry: Entry, refresh: str) -> None:
        self._saw("USER-NO-STALE", "rotated refresh token")
        used = self.used_refresh.get(refresh)
        if used is not None and self.concurrency > 1 and used.seq > self.batch_start:
            message = (
                f"a worker refreshed with a refresh token another worker had already used (#{used.seq}), "
                "which rotated it: refreshes for one customer are not serialised"
            )
        else:
            where = f" at #{used.seq}" if used is not None else ""
            message = (
                f"sent a refresh token the refresh{where} had rotated: the refresh_token that refresh "
                "returned was not kept"
            )
        self._fail("USER-NO-STALE", message, *([used] if used is not None else []), entry)

    def _reuse(self, entry: Entry, current: Issued, how: str) -> None:
        """USER-REUSE: new tokens for a customer whose newest token is young and works."""
        client_now = entry.at - self.skew
        age = client_now - current.received()
        used = current.token in self.presented  # a token it never used, it may never have read
        if self._young(current, client_now) and used and self._usable(current) and not self.refusals:
            self._fail(
                "USER-REUSE",
                f"{how} a customer's token it had received {_duration(age)} before, which still worked",
                entry,
            )

    def _registration(self, entry: Entry, user_id: int) -> None:
        dead_since = self.dead_registration.get(user_id, float("inf"))
        if entry.wall > dead_since and self._again(user_id):
            self._fail("INVALID-GRANT-STOP", "sent a registration code already answered invalid_grant", entry)
        if entry.error == "invalid_grant" and entry.reason in ("reclaimed", "user_credentials"):
            self.dead_registration.setdefault(user_id, entry.done)
        if self.concurrency > 1:
            return  # workers falling back at once: judged by what they do with the answers
        held = [
            info
            for info in self.issued.values()
            if info.kind == "user"
            and info.user_id == user_id
            and (info.link in self.op_links or (info.link is None and info.grant == "registration_code"))
        ]
        current = max(held, key=lambda i: i.seq, default=None)
        if current is not None:
            self._reuse(entry, current, "fetched new tokens with the registration code, replacing")

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
            and info.left(client_now) > CC_RENEWAL_WINDOW
            and token_id in self.presented  # a token it never used, it may never have read
        ]
        if len(held) >= self.partner_workers and not self.refusals:
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
        expiry = info.client_expiry()
        left = float("inf") if expiry is None else expiry - (entry.at - self.skew)
        if entry.token_state == "superseded" and info.kind == "user":
            # The most specific fault: a replaced token is stale, whether or not it also expired.
            # Excused: each worker's one request already in flight with the token that was current
            # when the workers began (it read the token before another worker's refresh replaced it).
            excused = False
            if self.concurrency > 1 and info.seq <= self.batch_start:
                self.in_flight[token] += 1
                excused = self.in_flight[token] <= self.concurrency
            if not excused:
                self._stale(entry, info)
        elif left <= 0:
            obligation = "CC-NO-EXPIRED" if info.kind == "client_credentials" else "USER-NO-EXPIRED"
            self._fail(obligation, f"sent a token {_duration(-left)} past the expiry it was told", entry)
        elif info.kind == "user" and left < _margin(info):
            self._fail("REFRESH-EARLY", f"sent a user token with only {int(left)} s left", entry)

    def _stale(self, entry: Entry, info: Issued) -> None:
        assert entry.token is not None
        by = self.replaced_by.get(entry.token)
        if by is None:
            self._fail("USER-NO-STALE", "sent a user access token that a refresh had already replaced", entry)
        elif self.concurrency > 1 and info.seq > self.batch_start and by.seq > self.batch_start:
            self._fail(
                "USER-NO-STALE",
                f"two workers refreshed this customer's token at once: the token one got (#{info.seq}) was "
                f"replaced by the other's refresh (#{by.seq}) and then sent",
                by,
                entry,
            )
        else:
            self._fail(
                "USER-NO-STALE",
                f"sent a user access token that the refresh at #{by.seq} had already replaced",
                by,
                entry,
            )

    # Operations: what the client did and said ---------------------------------------------------

    def judge(self, op: Operation) -> None:
        self.step, self.op_user = op.step, op.user_id
        outcome = op.outcome
        if outcome is not None and outcome.kind == "unsupported":
            self.unsupported.add(op.name)  # the adapter's documented answer: counts against nothing
            return
        if not op.concurrent:
            self._retries(op)
        self._owner(op)
        getattr(self, f"_op_{op.name}", lambda op: None)(op)

    def _owner(self, op: Operation) -> None:
        """USER-OWN-TOKEN: the tokens presented belong to whom the operation acts for (once for the
        requests of workers acting at once)."""
        if op.concurrent and self.owner_checked == op.step:
            return
        self.owner_checked = op.step
        for entry in op.entries:
            customer_token = (
                entry.token_kind in ("user", "refresh") or entry.grant_type == "registration_code"
            )
            if op.name in ("partner_call",) and entry.token_kind in ("user", "refresh"):
                self._fail("USER-OWN-TOKEN", "a partner call presented a customer's token", entry)
            elif op.user_id is not None and customer_token and entry.user_id not in (None, op.user_id):
                self._fail(
                    "USER-OWN-TOKEN",
                    f"{op.name}({op.user}) presented another customer's "
                    f"{'registration code' if entry.grant_type == 'registration_code' else 'token'} "
                    f"(user {entry.user_id}, not {op.user_id})",
                    entry,
                )
            elif (
                op.name in CUSTOMER_OPS
                and entry.token_kind == "client_credentials"
                and not entry.path.startswith(PARTNER_PATHS)
            ):
                self._fail(
                    "USER-OWN-TOKEN",
                    f"{op.name}({op.user}) presented the partner's client-credentials token for the customer",
                    entry,
                )

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
            for before, after in itertools.pairwise(same):
                if not _transient(before):
                    streak = [after]
                    continue
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

    def _outcome_rules(self, op: Operation) -> None:
        outcome = op.outcome
        assert outcome is not None
        disrupted = self._disrupted(op)
        if op.expect.get("registration_code_alive") and op.expect.get("refresh_dead"):
            self._saw("REGCODE-FALLBACK", "dead refresh token")
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
        elif op.expect.get("relink") and not disrupted:
            self._saw("RELINK-REPORTED", op.name)
            if outcome.status != "relink_needed" and not self._excused(op):
                self._fail(
                    "RELINK-REPORTED",
                    f"{op.name}({op.user}) answered {outcome.shown()}; the user's tokens are gone: a "
                    "re-link is needed",
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
        """WORKS, unless an obligation broken in the same step, or earlier for the same customer,
        may explain the failure."""
        outcome = op.outcome
        assert outcome is not None
        if not op.expect.get("works"):
            return
        self._saw("WORKS", op.name)
        attempt = self.unfinished.pop(op.user_id, None) if op.user_id is not None else None
        if attempt is not None and op.name != "finish_link":
            self._saw("LINK-KEPT", f"after a re-link {attempt}")
        if outcome.status != "ok" and not self._excused(op):
            what = f"{op.name}({op.user or ''})"
            if attempt is not None and op.name != "finish_link":
                self._fail(
                    "LINK-KEPT",
                    f"{what} answered {outcome.shown()} after the customer {attempt} a new link: the link "
                    "they had still works",
                    *op.entries[-3:],
                )
                return
            self._fail(
                "WORKS", f"{what} answered {outcome.shown()} though nothing was wrong", *op.entries[-3:]
            )

    def _excused(self, op: Operation) -> bool:
        """Whether a wrong answer is excused, and by which obligation (counted in `excused`): one
        whose breach makes Wise refuse what follows, broken in this very operation for this
        customer (or for the partner), or earlier for this customer. A breach that cannot make an
        operation fail (a retry too soon, a token renewed too early) excuses nothing."""
        cause = next(
            (
                v.obligation
                for v in self.violations
                if v.step == op.step and v.obligation in CAUSES_FAILURE and v.user in (op.user_id, None)
            ),
            None,
        )
        if cause is None and op.user_id is not None:
            cause = self.tainted.get(op.user_id)
        if cause is not None:
            self.excused[cause] += 1
        return cause is not None

    _op_partner_call = _outcome_rules
    _op_create_user = _outcome_rules
    _op_user_call = _outcome_rules
    _op_fund_transfer = _outcome_rules

    def _op_start_link(self, op: Operation) -> None:
        assert op.url is not None
        self._saw("REDIRECT-EXACT", "authorize URL")
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
        # An attempt the sandbox answered with a transient failure without acting on it is no
        # exchange (docs/contracts.md, "Attempts whose outcome the client could not know"): a retry
        # after it is what RETRY-BOUNDED asks for. One redirect carries one code: a second exchange
        # the sandbox acted on is that code again, whatever the journal could name.
        acted = [e for e in exchanged if not _unacted(e)]
        if len(acted) < len(exchanged):
            self._saw("CODE-ONCE", "an exchange a transient failure answered")
        if acted and any(e.fault and e.seq > acted[0].seq for e in op.entries):
            self._saw("CODE-ONCE", "a failure after the exchange")
        flagged = any(v.obligation == "CODE-ONCE" and v.step == op.step for v in self.violations)
        if len(acted) > 1 and not flagged:
            self._fail("CODE-ONCE", "exchanged the redirect's authorization code again", *acted[:2])
        if op.expect.get("declined"):
            self._saw("LINK-KEPT", "declined")
            if acted or outcome.status == "ok":
                self._fail(
                    "LINK-KEPT",
                    f"the customer declined on the authorize page, and finish_link answered {outcome.shown()}"
                    + (" after exchanging a code" if acted else ""),
                    *acted,
                )
            return
        in_flight = op.expect.get("in_flight")
        if in_flight and not self._disrupted(op):
            self._saw("LINKS-IN-FLIGHT", f"attempt {in_flight} of 2")
            if outcome.kind == "state_mismatch":
                self._fail(
                    "LINKS-IN-FLIGHT",
                    f"refused the redirect of link attempt {in_flight}, which it had started, because "
                    "another attempt was under way for the customer",
                )
                return
        tamper = op.expect.get("tamper")
        if tamper:
            self._saw("STATE-CHECKED", tamper)
            if exchanged or outcome.kind != "state_mismatch":
                self._fail(
                    "STATE-CHECKED",
                    f"accepted a redirect whose state was not its own ({TAMPERINGS.get(tamper, tamper)}; "
                    f"answered {outcome.shown()})",
                    *exchanged,
                )
            return
        wrong_dob = op.expect.get("wrong_dob")
        if wrong_dob:
            self._saw("DOB-CHECK", wrong_dob)
            if outcome.status == "ok":
                self._fail(
                    "DOB-CHECK",
                    f"linked a profile whose date of birth is not the customer's ({wrong_dob})",
                    *op.entries[-2:],
                )
            return
        # a faked invalid_grant on the new tokens' first refresh leaves nothing to link with
        if not self._disrupted(op) and "invalid_grant" not in op.faults():
            self._works(op)


#: How the suite tampers with the `state` of a redirect back (STATE-CHECKED), in the report's words.
TAMPERINGS = {
    "foreign": "a state of another session",
    "prefix": "the issued state's first half, then other characters",
    "suffix": "other characters, then the issued state's second half",
    "one-char": "the issued state with one character changed",
    "case": "the issued state in another case",
    "truncated": "the issued state without its last character",
    "empty": "an empty state",
    "missing": "no state at all",
    "repeated": "the state parameter three times: foreign, issued, foreign",
}


def _margin(info: Issued) -> float:
    """REFRESH-EARLY's margin: a minute, or a quarter of a shorter life (a token told it lives
    one second cannot be sent with a minute left)."""
    return min(REFRESH_MARGIN, info.lifetime / 4)


def _answered(entry: Entry) -> float:
    """When the client had the answer: pauses are counted from there, not from the request."""
    return entry.done or entry.wall


def _unacted(entry: Entry) -> bool:
    """The sandbox answered with a transient failure without acting on the request (a fault)."""
    return entry.fault is not None and entry.fault.partition("#")[0] in DISRUPTIVE_FAULTS


def _transient(entry: Entry) -> bool:
    return (
        entry.status >= 500 or entry.status == 429 or (entry.error in TRANSIENT_ERRORS) or entry.status == 0
    )


def _failure(entry: Entry) -> str:
    if entry.status == 429:
        return "429"
    if entry.status == 0 or entry.error == "connection_reset":
        return "reset"
    if entry.error in ("malformed_json", "gateway_html"):
        return str(entry.error)
    return "5xx"


def _is_token(entry: Entry) -> bool:
    return entry.route == TOKEN_PATH  # the path as routed: without a CalVer prefix


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{int(seconds)} s"
    if seconds < 7200:
        return f"{int(seconds // 60)} min"
    return f"{seconds / 3600:.1f} h"
