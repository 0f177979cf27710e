"""The world's moves: near misses as a careful reviewer would try them, and an operation a client
does not offer counting against nothing."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from mockwise.contracts.adapter import Outcome
from mockwise.contracts.judge import TAMPERINGS
from mockwise.contracts.reference import ReferenceClient
from mockwise.contracts.runner import Arena, python_client
from mockwise.contracts.world import World, near_miss, tampered

ISSUED = "q7Rk2mW9xT4pL8vN3bY6cF1hJ5sD0gZa"
REDIRECT = f"http://localhost:8080/wise/callback?code=C0DE&state={ISSUED}&profileId=30000001"


@pytest.mark.parametrize("how", sorted(TAMPERINGS))
def test_every_tampering_is_a_near_miss_never_the_issued_state(how: str) -> None:
    states = parse_qs(urlparse(tampered(REDIRECT, how)).query, keep_blank_values=True).get("state", [])
    assert states != [ISSUED]
    assert parse_qs(urlparse(tampered(REDIRECT, how)).query)["code"] == ["C0DE"]
    if how in ("prefix", "suffix", "one-char", "case", "truncated"):
        [state] = states
        assert state.lower() != ISSUED.lower() or how == "case"
        assert state[:4] == ISSUED[:4] or state[-4:] == ISSUED[-4:] or how == "case"


def test_repeated_state_fools_first_wins_and_last_wins_parsers_alike() -> None:
    states = parse_qs(urlparse(tampered(REDIRECT, "repeated")).query)["state"]
    assert states[0] != ISSUED and states[-1] != ISSUED and ISSUED in states


def test_near_miss_dates_of_birth() -> None:
    assert near_miss("1985-04-12", "own") == "1985-04-12"
    assert near_miss("1985-04-12", "day") == "1985-04-13"
    assert near_miss("1985-04-12", "month") == "1985-12-04"  # day and month swapped
    assert near_miss("1991-09-23", "month") == "1991-10-23"  # no such swap: the next month
    assert near_miss("1985-04-12", "year") == "1984-04-12"


class NoTransfers(ReferenceClient):
    def fund_transfer(self, user_key: str) -> Outcome:
        return Outcome.error("unsupported")


def test_an_operation_the_client_does_not_offer_counts_against_nothing(arena: Arena) -> None:
    """The issue's story: create a user, link, Wise revokes for a breach, fund a transfer."""
    _, clock = python_client("mockwise.contracts.reference:factory")
    world = World(arena.control, arena.endpoints, lambda config, c: NoTransfers(config), clock())
    try:
        world.create_user()
        key = world.link_user("alex")
        world.revoke("breach")
        assert world.fund_transfer(key) == Outcome.error("unsupported")
        world.fund_transfer(key)  # not asked again: the answer is known
    finally:
        world.close()
        world.tenant.delete()
    assert world.judge.violations == [] and world.judge.unsupported == {"fund_transfer"}
    assert [s.outcome for s in world.story if s.action == "fund_transfer"] == ["error:unsupported"] * 2


class Recorder:
    """A clock and a client that write down when they are stopped and closed."""

    movable = True

    def __init__(self, log: list[str], name: str) -> None:
        self.log, self.name = log, name

    def start(self) -> None:
        pass

    def shift(self, seconds: float) -> None:
        pass

    def stop(self) -> None:
        self.log.append(f"{self.name} stopped")

    def environment(self) -> dict[str, str]:
        return {}

    def close(self) -> None:
        self.log.append(f"{self.name} closed")


def test_a_story_stops_its_client_s_clock_before_the_client_goes_back_to_its_pool(arena: Arena) -> None:
    """Told side by side, the next story may take the client process (and its clock) at once."""
    log: list[str] = []
    world = World(
        arena.control, arena.endpoints, lambda c, k: Recorder(log, "client"), Recorder(log, "clock")
    )  # type: ignore[arg-type, return-value]
    world.close()
    world.tenant.delete()
    assert log == ["clock stopped", "client closed"]


def _store_tokens(tokens: dict[str, object]) -> float:
    return float(tokens["expires_in"])  # type: ignore[arg-type]


def test_a_client_that_raises_is_shown_with_the_exception_and_its_own_frame() -> None:
    """Issue 23: not `error:exception`, but what was raised and where in the client's own code."""
    from mockwise.contracts.adapter import Outcome
    from mockwise.contracts.world import _guarded

    def user_call() -> Outcome:
        _store_tokens({"access_token": "x"})
        return Outcome.ok()

    outcome = _guarded(user_call)
    assert outcome.kind == "exception"
    shown = outcome.shown()
    assert "KeyError: 'expires_in'" in shown and "test_world.py" in shown and "in _store_tokens" in shown


def test_skip_reasons_name_the_structural_cause_and_blame_the_budget_only_when_it_stopped() -> None:
    from types import SimpleNamespace
    from typing import Any, cast

    from mockwise.contracts.obligations import BY_ID
    from mockwise.contracts.runner import _not_exercised

    arena = cast(Any, SimpleNamespace(endpoints={"mtls_api_url": "https://x"}, impostor=object()))
    no_link = cast(Any, SimpleNamespace(unsupported={"start_link", "fund_transfer"}, examples_run=100))
    reason = _not_exercised(BY_ID["SCA-CLEARED"], no_link, arena, "", 100)
    assert "does not offer start_link" in reason and "never links a customer" in reason
    stopped = cast(Any, SimpleNamespace(unsupported=set(), examples_run=12))
    assert "raise --budget" in _not_exercised(BY_ID["DOB-CHECK"], stopped, arena, "", 100)
    all_told = cast(Any, SimpleNamespace(unsupported=set(), examples_run=100))
    reason = _not_exercised(BY_ID["DOB-CHECK"], all_told, arena, "", 100)
    assert "raise --examples" in reason and "budget" not in reason
