"""The hypothesis state machine: client moves and server moves, with the obligations as invariants.

Rules are the partner's business operations (several at once, to play several workers) and the
ways Wise's side moves: time passing around the expiry boundaries (on both clocks, or the
sandbox's alone), revocations, reclaims, secret rotation, faults, and the token shapes Wise
documents. After every rule the judge reads the journal; a broken obligation fails the run, and
hypothesis shrinks it to the shortest story that still breaks it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
)

from contracts.clocks import ClientClock
from contracts.judge import ACCESS_LIFETIME, Violation
from contracts.world import ClientFactory, Step, World
from mockwise.client import SandboxClient

DAY = 86400
LIFETIME = int(ACCESS_LIFETIME)
# Clock moves cluster around the boundaries that matter: a 12-hour token, a 5-minute renewal margin.
ADVANCES = sorted(
    {1, 61, 299, 301, 3599, 3601, 6 * 3600, 11 * 3600, LIFETIME - 301, LIFETIME - 299, LIFETIME - 61,
     LIFETIME - 1, LIFETIME, LIFETIME + 1, DAY, 3 * DAY}
)  # fmt: skip
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
    ("invalid_grant", None),
    ("invalid_token", None),
)
REVOCATIONS = ("revoke-access", "enhanced-security", "change-email")
PEOPLE = ("alex", "lena")  # seeded Wise users who link their accounts
# Token shapes Wise documents: UUIDs, the long encrypted JWTs client-credentials tokens become by
# 2027 (§2.4), and the pre-2023 token response without expires_at and friends (§2.3).
VARIANTS: tuple[dict[str, Any], ...] = (
    {},
    {"client_credentials_token_format": "jwe"},
    {"token_response_fields": "legacy"},
)


class ObligationBroken(AssertionError):
    obligation = ""


_BROKEN: dict[str, type[ObligationBroken]] = {}


def broken_type(obligation: str) -> type[ObligationBroken]:
    """One exception type per obligation, so hypothesis keeps different failures apart."""
    if obligation not in _BROKEN:
        name = "Broken_" + obligation.replace("-", "_")
        _BROKEN[obligation] = type(name, (ObligationBroken,), {"obligation": obligation})
    return _BROKEN[obligation]


@dataclass
class Finding:
    violation: Violation
    story: list[Step]
    fidelity: dict[str, Any]


@dataclass
class RunContext:
    """What one run of the suites shares across hypothesis examples."""

    control: SandboxClient
    endpoints: dict[str, str]
    make_client: ClientFactory
    make_clock: Callable[[], ClientClock]
    profile: str = "wise"
    impostor: Any = None  # the arena's man in the middle, when it has one
    target: str | None = None  # the obligation whose violation fails an example (None: only record)
    found: dict[str, Finding] = field(default_factory=dict)
    raised: Violation | None = None  # the violation that failed the latest example (focused runs)
    last_world: World | None = None
    steps_run: int = 0
    examples_run: int = 0
    exercised: set[str] = field(default_factory=set)  # optional operations the client implements


def build_machine(ctx: RunContext) -> type[RuleBasedStateMachine]:
    class WiseClientContract(RuleBasedStateMachine):
        users = Bundle("users")  # the partner's customers: created over API ("c…") or linked ("l…")

        def __init__(self) -> None:
            super().__init__()
            self.world: World | None = None
            self.seen = 0

        @property
        def w(self) -> World:
            assert self.world is not None
            return self.world

        # Every story starts with a customer created over API and one linked through the authorize
        # page, so the interesting moves have someone to act for. Bundles get every key, whatever
        # the outcome: what hypothesis draws must not depend on how the client (or a race) fared,
        # or shrinking could not replay a story.
        @initialize(
            target=users, variant=st.sampled_from(range(len(VARIANTS))), person=st.sampled_from(PEOPLE)
        )
        def start(self, variant: int, person: str) -> Any:
            ctx.examples_run += 1
            self.world = World(
                ctx.control,
                ctx.endpoints,
                ctx.make_client,
                ctx.make_clock(),
                profile=ctx.profile,
                fidelity=VARIANTS[variant],
                impostor=ctx.impostor,
            )
            ctx.last_world = self.world
            return multiple(self.world.create_user(), self.world.link_user(person))

        def teardown(self) -> None:
            if self.world is not None:
                try:
                    self.world.close()
                finally:
                    self.world.tenant.delete()

        # Client moves ---------------------------------------------------------------------------

        @rule()
        def partner_call(self) -> None:
            self.w.partner_call()

        @rule(workers=st.integers(2, 3))
        def partner_calls_concurrently(self, workers: int) -> None:
            self.w.partner_calls_concurrently(workers)

        @rule(target=users)
        def create_user(self) -> str:
            return self.w.create_user()

        @rule(
            target=users, person=st.sampled_from(PEOPLE), tamper_state=st.booleans(), wrong_dob=st.booleans()
        )
        def link_user(self, person: str, tamper_state: bool, wrong_dob: bool) -> str:
            return self.w.link_user(person, tamper_state, wrong_dob)

        @rule(user=users, near_expiry=st.booleans())
        def user_call(self, user: str, near_expiry: bool) -> None:
            self.w.user_call(user, near_expiry)

        @rule(user=users, transfers=st.integers(1, 3))
        def fund_transfers(self, user: str, transfers: int) -> None:
            for _ in range(transfers):  # a payout batch: each transfer is challenged on its own
                outcome = self.w.fund_transfer(user)
                if outcome is not None and outcome.kind != "unsupported":
                    ctx.exercised.add("fund_transfer")

        @rule(user=users, workers=st.integers(2, 3), near_expiry=st.booleans())
        def user_calls_concurrently(self, user: str, workers: int, near_expiry: bool) -> None:
            self.w.user_calls_concurrently(user, workers, near_expiry)

        # Server moves ---------------------------------------------------------------------------

        @rule(seconds=st.sampled_from(ADVANCES), both=st.booleans())
        def advance(self, seconds: int, both: bool) -> None:
            self.w.advance(seconds, both)

        @rule(
            whose=st.one_of(st.just("partner"), users),
            offset=st.sampled_from(EXPIRY_OFFSETS),
            both=st.booleans(),
        )
        def advance_to_expiry(self, whose: str, offset: int, both: bool) -> None:
            self.w.advance_to_expiry(offset, both, whose)

        @rule(user=users, cause=st.sampled_from(REVOCATIONS))
        def revoke(self, user: str, cause: str) -> None:
            self.w.revoke(cause, user)

        @rule()
        def breach(self) -> None:
            self.w.revoke("breach")

        @rule(user=users)
        def reclaim(self, user: str) -> None:
            self.w.reclaim(user)

        @rule(deploy=st.booleans())
        def rotate_secret(self, deploy: bool) -> None:
            self.w.rotate_secret(deploy)

        @precondition(lambda self: self.world is not None and self.world.pending_secret is not None)
        @rule()
        def deploy_secret(self) -> None:
            self.w.deploy_secret()

        @precondition(lambda self: self.world is not None and self.world.impostor is not None)
        @rule(user=st.one_of(st.none(), users))
        def meet_impostor(self, user: str | None) -> None:
            self.w.meet_impostor(user)

        @rule(fault=st.sampled_from(FAULTS), during=st.one_of(st.none(), st.just("partner"), users))
        def fault(self, fault: tuple[str, str | None], during: str | None) -> None:
            """Arm a fault; it strikes the next matching request, or (`during`) the partner's or a
            customer's call made at once, so that most faults meet a request within the story."""
            self.w.fault(*fault)
            if during == "partner":
                self.w.partner_call()
            elif during is not None:
                self.w.user_call(during)

        # Obligations ----------------------------------------------------------------------------

        @invariant()
        def obligations_hold(self) -> None:
            if self.world is None:
                return
            ctx.steps_run += 1
            violations = self.world.judge.violations
            new, self.seen = violations[self.seen :], len(violations)
            for violation in new:
                if violation.obligation not in ctx.found:
                    ctx.found[violation.obligation] = Finding(
                        violation, list(self.world.story), self.world.fidelity
                    )
                if violation.obligation == ctx.target:
                    ctx.raised = violation
                    story = "\n".join(step.line() for step in self.world.story)
                    raise broken_type(violation.obligation)(f"{violation.render()}\nStory:\n{story}")

    return WiseClientContract
