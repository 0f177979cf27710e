"""What every check shares: the records the judge keeps (what the client was told of each token,
each operation and each broken obligation), its state, and the obligation's declaration.

The checks live beside the obligations they judge, a module per family (`requests`, `tokens`,
`retries`, `linking`, `outcomes`), each declaring its `OBLIGATIONS` and a mixin of `JudgeState`;
`mockwise.contracts.judge.Judge` is all of them together, and `mockwise.contracts.obligations`
their catalog. A new family: a module here with both, listed in those two places."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from mockwise._domain.journal import Entry, describe
from mockwise.contracts.adapter import Outcome

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


Severity = Literal["critical", "major", "minor"]
PROFILES = ("wise", "strict")  # "wise": what Wise documents; "strict": adds good practice beyond it


@dataclass(frozen=True)
class Obligation:
    id: str
    statement: str
    source: str
    severity: Severity
    check: str
    situation: str = ""  # what the run counts: the moments that put this obligation to the test
    profiles: tuple[str, ...] = PROFILES
    # what the obligation cannot be judged without: an optional operation of the adapter
    # (`fund_transfer`, `create_user`, `start_link`), a client clock the suite can move (`clock`),
    # an mTLS host (`mtls`) or the arena's man in the middle (`impostor`)
    needs: tuple[str, ...] = ()
    # the ways the stories try to make a client break it: kinds of its situation, each met in the
    # default run (a test says so)
    adversaries: tuple[str, ...] = ()

    def as_json(self) -> dict[str, object]:
        return asdict(self)


#: What each need is, in the catalog's words.
NEEDS = {
    "clock": "a client clock the suite can move",
    "fund_transfer": "the optional `fund_transfer` operation",
    "create_user": "the `create_user` operation",
    "start_link": "the `start_link` and `finish_link` operations",
    "mtls": "an mTLS host",
    "impostor": "the local sandbox's impostor",
}


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


class JudgeState:
    """What the judge knows and keeps, shared by every family's checks."""

    def __init__(
        self,
        client_id: str,
        redirect_uri: str,
        active: set[str],
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
        self.active = active  # the obligations of the profile judged
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

    # Verdicts -----------------------------------------------------------------------------------

    def _fail(self, obligation: str, message: str, *entries: Entry) -> None:
        if obligation in self.active:
            self.violations.append(Violation(obligation, message, self.step, list(entries), self.op_user))
            if self.op_user is not None and obligation in CAUSES_FAILURE:
                self.tainted.setdefault(self.op_user, obligation)

    def _saw(self, obligation: str, kind: str) -> None:
        self.situations[obligation][kind] += 1

    # Hooks: what one family's checks ask of another's (the Judge has them all) -----------------

    def _replaced_link(self, entry: Entry, link: int | None) -> None:
        raise NotImplementedError  # linking.LinkChecks

    def _disrupted(self, op: Operation) -> bool:
        raise NotImplementedError  # outcomes.OutcomeChecks

    def _works(self, op: Operation) -> None:
        raise NotImplementedError  # outcomes.OutcomeChecks

    # What the client was told of its tokens --------------------------------------------------------

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
