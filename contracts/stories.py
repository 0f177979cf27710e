"""The stories the suites tell a client: seeded, weighted, themed, and the same on every run.

Each story is a fresh tenant and client, a customer created over API and one linked through the
authorize page, then a dozen or so moves drawn from a weighted table: the partner's business
operations (several at once, to play several workers) and the ways Wise's side moves (time passing
around the expiry boundaries, anywhere in a token's last minute, on both clocks or the sandbox's
alone; revocations, reclaims, secret rotation; faults, armed and then met by the very next
operation; an impostor), in one of the variations Wise allows (token formats and response fields,
refresh-token rotation, what a linked token lists, a redirect URI with a query string).

Why not hypothesis's rule-based state machines, which the suites began with: their draws are
deliberately uneven (in one measured run of 113 stories a link with a near-miss `state` came up
12 times, faults 30 times and revocations 426 times, and no 429 at all), which is right for
finding one bug eventually and wrong for a verdict that must put every obligation to the test
within a fixed budget. Here every story has a theme (expiry, concurrency, faults, linking, ...),
cycled so that each comes up every few stories, which multiplies the weight of its moves; moves
outside the theme are switched off at random (swarm testing) so stories also concentrate on few
kinds of move. Story `n` is drawn from `random.Random("mockwise:n")`: the same client gets the
same stories, and the same verdict, in CI. Counterexamples are shrunk by replay
(`mockwise.contracts.shrink`).
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from mockwise.contracts.clocks import ClientClock
from mockwise.contracts.judge import ACCESS_LIFETIME, TAMPERINGS, Violation
from mockwise.contracts.subprocess_driver import ClientGone
from mockwise.contracts.variation import BY_ID as POINTS
from mockwise.contracts.variation import Tally, draw_settings
from mockwise.contracts.world import RENEWAL_POINT, ClientFactory, Listeners, Move, Step, World
from mockwise.testing._client import SandboxClient

DAY = 86400
LIFETIME = int(ACCESS_LIFETIME)
# Clock moves cluster around the boundaries that matter: a 12-hour token, a 5-minute renewal margin.
# (Half an hour and an hour and a half: a token still young, which a careful client leaves alone.)
ADVANCES = sorted(
    {1, 61, 299, 301, 1800, 3599, 3601, 5400, 6 * 3600, 11 * 3600, LIFETIME - 301, LIFETIME - 299,
     LIFETIME - 61, LIFETIME - 1, LIFETIME, LIFETIME + 1, DAY, 3 * DAY}
)  # fmt: skip
# Where a renewal goes wrong, around the sandbox's expiry of a token (the client was told one
# second less): the margins clients use (5 minutes, an hour, Wise's suggested 6 hours), after it,
# and while the token is still young (half an hour and an hour and a half after it was issued).
MARGINS = (-LIFETIME + 1800, -LIFETIME + 5400, -6 * 3600, -3601, -301, -299, 1, 30, 3600)
EXPIRY_OFFSETS = (-301, -299, -61, -1, 0, 1, 30)
FAULTS = (
    ("server_error", "/oauth/token"),
    ("server_error", "/v1/*"),
    ("rate_limited", "/oauth/token"),
    ("rate_limited", "/v1/*"),
    ("delay", None),
    ("connection_reset", "/oauth/token"),
    ("connection_reset", "/v1/*"),
    ("malformed_json", "/oauth/token"),
    ("gateway_html", "/v1/*"),
    ("server_error", "/v2/*"),  # the profile a link is checked against (Wise linking-accounts page)
    ("invalid_grant", None),
    ("invalid_token", None),
)
OUTAGE_KINDS = ("server_error", "connection_reset", "malformed_json", "gateway_html")
REVOCATIONS = ("revoke-access", "enhanced-security", "change-email")
PEOPLE = ("alex", "lena")  # seeded Wise users who link their accounts
DOBS = ("day", "month", "year", "other")  # near misses of a customer's date of birth
TAMPER_KINDS = tuple(sorted(TAMPERINGS))
SWARM_OFF = 0.3  # the chance a move outside the story's theme is switched off for the story


class BudgetSpent(Exception):
    pass


@dataclass
class Finding:
    violation: Violation
    story: list[Step]
    moves: list[Move]
    settings: dict[str, Any]
    redirect_query: bool
    index: int = 0  # the story's number


@dataclass
class RunContext:
    """What one run of the suites shares across its stories."""

    control: SandboxClient
    endpoints: dict[str, str]
    make_client: ClientFactory
    make_clock: Callable[[], ClientClock]
    profile: str = "wise"
    impostor: Any = None  # the arena's man in the middle, when it has one
    out_of_time: Callable[[], bool] = lambda: False
    on_step: Callable[[], None] = lambda: None
    # Stories told side by side: only for clients whose clock is their own (a subprocess, an
    # injected clock), never with time-machine, which moves this whole process's clock.
    parallel: int = 1
    # The client's waits are real (a subprocess, a sandbox in another process): the faults that
    # make it wait (429s, outages, the impostor's failed handshakes) come up in their themes only.
    real_waits: bool = False
    listeners: Listeners = field(default_factory=Listeners)
    found: dict[str, Finding] = field(default_factory=dict)
    steps_run: int = 0
    examples_run: int = 0
    situations: dict[str, Counter[str]] = field(default_factory=dict)
    unsupported: set[str] = field(default_factory=set)  # optional operations the client lacks
    variation: Tally = field(default_factory=Tally)  # how often each variation point took each value
    excused: Counter[str] = field(
        default_factory=Counter
    )  # failed operations, by the breach that caused them
    # no HTTP-date Retry-After: a sandbox in another process cannot know a time-machine clock
    remote: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def world(self, settings: dict[str, Any], redirect_query: bool) -> World:
        """A fresh tenant and client for a story (or a replay of one)."""
        return World(
            self.control,
            self.endpoints,
            self.make_client,
            self.make_clock(),
            profile=self.profile,
            settings=settings,
            impostor=self.impostor,
            redirect_query=redirect_query,
            listeners=self.listeners,
        )

    def absorb(self, world: World) -> None:
        """Add a finished story's situations, and the variations it took, to the run's."""
        with self.lock:
            self.excused.update(world.judge.excused)
            self.variation.story(world.settings, {"world.redirect_uri_query": world.redirect_query})
            for point, value in world.took:
                self.variation.took(point, value)
            self.unsupported |= world.judge.unsupported
            for obligation, kinds in world.judge.situations.items():
                self.situations.setdefault(obligation, Counter()).update(kinds)

    def record(self, world: World, violation: Violation, index: int) -> None:
        """Keep the shortest story that broke each obligation (the shrinker's head start); of two
        as short, the earlier story's, so stories told side by side give the same verdict."""
        steps = [s for s in world.story if s.number <= violation.step]
        with self.lock:
            known = self.found.get(violation.obligation)
            if known is None or (len(steps), index) < (len(known.story), known.index):
                self.found[violation.obligation] = Finding(
                    violation, steps, list(world.moves), world.settings, world.redirect_query, index
                )


class Story:
    """One story being told: its world, its dice, and what it has used up."""

    def __init__(
        self, world: World, rng: random.Random, theme: str, real_waits: bool = False, remote: bool = False
    ) -> None:
        self.w = world
        self.rng = rng
        self.theme = theme
        self.real_waits = real_waits
        self.remote = remote
        self.keys: list[str] = []  # every customer key, whatever became of it (so replays match)
        self.impostor_met = False
        self.rate_limited = False
        self.tamperings = 0
        self.first_tampering = rng.randrange(len(TAMPER_KINDS))

    def customer(self) -> str | None:
        return self.rng.choice(self.keys) if self.keys else None

    def timing(self) -> int | None:
        """When an operation happens: now, anywhere in its token's last minute, or at a margin."""
        roll = self.rng.random()
        bias = 0.6 if self.theme == "expiry" else 0.35
        if roll < bias:  # the last minute, its very end (the told expiry, the real one) often
            return self.rng.choice((-1, 0)) if self.rng.random() < 0.3 else self.rng.randint(-61, 0)
        if roll < bias + 0.2:
            return self.rng.choice(MARGINS)
        return None


# The moves ---------------------------------------------------------------------------------------


def partner_call(s: Story) -> None:
    s.w.partner_call(s.timing())


def partner_calls_concurrently(s: Story) -> None:
    s.w.partner_calls_concurrently(s.rng.randint(2, 3), s.timing())


def create_user(s: Story) -> None:
    s.keys.append(s.w.create_user())


def link_user(s: Story) -> None:
    rng = s.rng
    focused = s.theme == "linking"
    tamper = None
    if rng.random() < (0.7 if focused else 0.25):
        # a linking story goes through the near misses in turn, from a random one: every kind
        # comes up within a few such stories
        s.tamperings += 1
        tamper = TAMPER_KINDS[(s.first_tampering + s.tamperings) % len(TAMPER_KINDS)]
    dob = rng.choice(DOBS) if rng.random() < (0.5 if focused else 0.2) else "own"
    profile = "business" if rng.random() < 0.2 else "personal"
    extra = POINTS["world.callback_extra_params"].draw(rng, s.theme)
    s.keys.append(s.w.link_user(rng.choice(PEOPLE), tamper, dob, profile, extra))


RELINKS = ("same", "other", "declined", "abandoned")


def relink(s: Story) -> None:
    """A linked customer links again: the same or their other profile, or declines, or leaves."""
    linked = sorted(k for k, m in s.w.users.items() if m.kind == "linked")
    if linked:
        s.w.relink(s.rng.choice(linked), s.rng.choice(RELINKS))


def links_in_flight(s: Story) -> None:
    s.keys.append(s.w.link_twice(s.rng.choice(PEOPLE)))


def user_call(s: Story) -> None:
    key = s.customer()
    if key is not None:
        s.w.user_call(key, s.timing())


def user_calls_concurrently(s: Story) -> None:
    key = s.customer()
    if key is None:
        return
    roll = s.rng.random()
    at = RENEWAL_POINT if roll < 0.5 else s.rng.randint(-61, 0) if roll < 0.75 else None
    s.w.user_calls_concurrently(key, s.rng.randint(2, 3), at)


def fund_transfers(s: Story) -> None:
    # customers the client linked (a created one has no profile to fund from until they make one)
    linked = sorted(k for k, m in s.w.users.items() if m.kind == "linked")
    key = s.rng.choice(linked) if linked else None
    for _ in range(s.rng.randint(1, 3) if key is not None else 0):  # a payout batch
        s.w.fund_transfer(key)  # type: ignore[arg-type]


def advance(s: Story) -> None:
    s.w.advance(s.rng.choice(ADVANCES), s.rng.random() < 0.7)


def advance_to_expiry(s: Story) -> None:
    whose = s.customer() if s.rng.random() < 0.6 else "partner"
    s.w.advance_to_expiry(s.rng.choice(EXPIRY_OFFSETS), s.rng.random() < 0.5, whose or "partner")


def revoke(s: Story) -> None:
    key = s.customer()
    if key is not None:
        s.w.revoke(s.rng.choice(REVOCATIONS), key)


def breach(s: Story) -> None:
    s.w.revoke("breach")


def reclaim(s: Story) -> None:
    key = s.customer()
    if key is not None:
        s.w.reclaim(key)


def rotate_secret(s: Story) -> None:
    s.w.rotate_secret(s.rng.random() < 0.5)


def deploy_secret(s: Story) -> None:
    s.w.deploy_secret()


def meet_impostor(s: Story) -> None:
    s.impostor_met = True  # once a story: each meeting costs a client real handshakes and retries
    s.w.meet_impostor(s.customer() if s.rng.random() < 0.5 else None)


def fault(s: Story) -> None:
    """Arm a fault, and mostly meet it at once: in a partner call, a link (the code exchange) or a
    customer's call, with the token due when the fault is for the token endpoint (so the renewal
    meets it)."""
    rng = s.rng
    kind, path = rng.choice(FAULTS)
    if s.theme == "rate limits" and not s.rate_limited:
        kind, path = "rate_limited", rng.choice(("/oauth/token", "/v1/*"))
    elif kind == "rate_limited" and (s.rate_limited or s.real_waits):
        kind = "server_error"  # one 429 a story, and for real waits only in its theme
    s.rate_limited = s.rate_limited or kind == "rate_limited"
    times = rng.choice((1, 1, 1, 2, 5)) if kind in OUTAGE_KINDS else 1  # 5: longer than any retry
    if times == 5 and s.real_waits and s.theme != "faults":
        times = 2
    status = form = None
    if kind == "server_error":
        status = POINTS["fault.server_error_status"].draw(rng, s.theme)
        if status == 503:
            form = POINTS["fault.service_unavailable_retry_after"].draw(rng, s.theme)
    elif kind == "rate_limited":
        form = POINTS["fault.retry_after"].draw(rng, s.theme)
    if form == "http-date" and s.remote:
        form = "seconds"
    if status == 503 and s.real_waits and s.theme != "rate limits":
        form = "absent"  # a real wait of a second or two: in the theme about waiting only
    s.w.fault(kind, path, times, status, form)
    roll = rng.random()
    if roll < 0.1:
        return  # it strikes whatever comes next
    # the operation that meets it: one that makes the request it is armed for (a token is due when
    # the fault is for the token endpoint)
    for_tokens = path == "/oauth/token" or kind == "invalid_grant"
    key = s.customer()
    if path == "/v2/*" or (roll < 0.65 and (for_tokens or path == "/v1/*") and rng.random() < 0.5):
        s.keys.append(s.w.link_user(rng.choice(PEOPLE)))  # the code exchange, or the profile check
    elif roll < 0.45 or key is None:
        s.w.partner_call(RENEWAL_POINT if for_tokens or rng.random() < 0.3 else None)
    else:
        s.w.user_call(key, RENEWAL_POINT if for_tokens or rng.random() < 0.3 else None)


MoveMaker = Callable[[Story], None]
#: Every move and its weight in an ordinary story.
MOVES: dict[str, tuple[MoveMaker, float]] = {
    "partner_call": (partner_call, 5),
    "partner_calls_concurrently": (partner_calls_concurrently, 2),
    "create_user": (create_user, 3),
    "link_user": (link_user, 5),
    "relink": (relink, 1.5),
    "links_in_flight": (links_in_flight, 0.7),
    "user_call": (user_call, 12),
    "user_calls_concurrently": (user_calls_concurrently, 4),
    "fund_transfers": (fund_transfers, 3),
    "advance": (advance, 4),
    "advance_to_expiry": (advance_to_expiry, 2),
    "revoke": (revoke, 2.5),
    "breach": (breach, 0.7),
    "reclaim": (reclaim, 1.5),
    "rotate_secret": (rotate_secret, 1.2),
    "deploy_secret": (deploy_secret, 3),
    "meet_impostor": (meet_impostor, 1),
    "fault": (fault, 8),
}
#: Themes, cycled story by story: each multiplies the weight of its moves (by 4) and is never
#: switched off by the swarm.
THEMES: dict[str, tuple[str, ...]] = {
    "expiry": ("user_call", "partner_call", "advance", "advance_to_expiry"),
    "concurrency": ("user_calls_concurrently", "partner_calls_concurrently"),
    "faults": ("fault",),
    "linking": ("link_user", "relink", "links_in_flight"),
    "revocation": ("revoke", "breach", "reclaim"),
    "sca": ("fund_transfers",),
    "rate limits": ("fault",),
    "secrets": ("rotate_secret", "partner_call", "create_user"),
    "impostor": ("meet_impostor",),
    "mixed": (),
}
ESSENTIAL = ("user_call", "partner_call", "deploy_secret")  # never switched off


def available(s: Story, name: str) -> bool:
    if name == "deploy_secret":
        return s.w.pending_secret is not None
    if name == "meet_impostor":
        theirs = s.theme == "impostor" or not s.real_waits  # a meeting costs real retries
        return s.w.impostor is not None and not s.impostor_met and theirs
    return True


def tell(ctx: RunContext, index: int, steps: int) -> None:
    """Tell story number `index` (at most `steps` moves after its two customers)."""
    rng = random.Random(f"mockwise:{index}")  # noqa: S311 - reproducible stories, not secrets
    theme = list(THEMES)[index % len(THEMES)]
    settings = draw_settings(rng, theme)  # every variation point, the theme's own more often
    redirect_query = bool(POINTS["world.redirect_uri_query"].draw(rng, theme))
    world = ctx.world(settings, redirect_query)
    story = Story(world, rng, theme, ctx.real_waits, ctx.remote)
    focus = THEMES[theme]
    weights = {
        name: weight * (4 if name in focus else 1)
        for name, (_, weight) in MOVES.items()
        if name in focus or name in ESSENTIAL or rng.random() >= SWARM_OFF
    }
    seen = 0

    def judged() -> None:
        nonlocal seen
        with ctx.lock:
            ctx.steps_run += 1
        for violation in world.judge.violations[seen:]:
            ctx.record(world, violation, index)
        seen = len(world.judge.violations)
        ctx.on_step()

    try:
        with ctx.listeners.shared():
            create_user(story)
            link_user_plain(story, "alex" if theme == "sca" else rng.choice(PEOPLE))  # alex has a business
        judged()
        for _ in range(steps):
            names = [n for n in weights if available(story, n)]
            name = rng.choices(names, [weights[n] for n in names])[0]
            with ctx.listeners.around(name):
                MOVES[name][0](story)
            judged()
    except ClientGone:
        world.judge.situations.clear()  # the client left this story unfinished: nothing in it is kept
        raise
    finally:
        try:
            world.close()
        finally:
            world.tenant.delete()
        ctx.absorb(world)


def link_user_plain(s: Story, person: str) -> None:
    """A genuine link: the customer's own date of birth, their personal profile or (about one
    time in three) their business profile."""
    business = 0.6 if s.theme == "sca" else 0.3  # businesses fund transfers
    s.keys.append(s.w.link_user(person, profile="business" if s.rng.random() < business else "personal"))


def explore(ctx: RunContext, examples: int, steps: int) -> None:
    """Tell `examples` stories (fewer when the budget's share for exploring runs out), `parallel`
    of them at a time."""

    def one(index: int) -> None:
        if ctx.out_of_time():
            return
        with ctx.lock:
            ctx.examples_run += 1
        tell(ctx, index, steps)

    if ctx.parallel <= 1:
        for index in range(examples):
            one(index)
        return
    with ThreadPoolExecutor(ctx.parallel, thread_name_prefix="mockwise-story") as pool:
        list(pool.map(one, range(examples)))
