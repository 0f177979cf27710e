"""The shrinker: shorter stories by replay, plainer arguments, default settings, within a budget."""

from __future__ import annotations

import time
from typing import Any

from mockwise.contracts.judge import Violation
from mockwise.contracts.shrink import Moves, Replayed, shrink
from mockwise.contracts.world import Step


def replaying(breaks: Any) -> tuple[Any, list[Moves]]:
    """A stand-in for replaying a story: it breaks (up to the last move) when `breaks(moves,
    settings)` says so; every story replayed is kept."""
    seen: list[Moves] = []

    def replay(moves: Moves, settings: dict[str, Any], query: bool) -> Replayed:
        seen.append(moves)
        broken = breaks(moves, settings)
        story = [Step(i + 1, m["action"], m.get("args", {})) for i, m in enumerate(moves)]
        violation = Violation("X", "broken", len(story)) if broken else None
        return Replayed(violation, moves, story, settings, query)

    return replay, seen


def move(action: str, **args: Any) -> dict[str, Any]:
    return {"action": action, "args": args}


STORY = [
    move("create_user"),
    move("advance", seconds=3600, both=False),
    move("link_user", person="alex", tamper="prefix", extra=True),
    move("partner_call", at=-30),
    move("user_calls_concurrently", user="l2", workers=3, at=-100),
    move("fault", kind="server_error", path="/v1/*", times=5),
    move("user_call", user="l2"),
]


def needs_outage_and_race(moves: Moves, settings: dict[str, Any]) -> bool:
    actions = [m["action"] for m in moves]
    return "fault" in actions and "user_calls_concurrently" in actions and actions[-1] == "user_call"


def test_keeps_only_the_moves_that_matter_and_plainer_arguments() -> None:
    replay, _ = replaying(needs_outage_and_race)
    result = shrink(
        replay, STORY, {"oauth.refresh_token_rotation": True}, True, max_replays=200, deadline=1e12
    )
    assert result.replayed is not None
    assert [m["action"] for m in result.replayed.moves] == ["user_calls_concurrently", "fault", "user_call"]
    race, outage, _ = result.replayed.moves
    assert race["args"] == {"user": "l2", "workers": 2}  # `at` left out, two workers
    assert outage["args"] == {"kind": "server_error", "path": "/v1/*"}  # once, not five times
    assert result.replayed.settings == {} and result.replayed.redirect_query is False


def test_keeps_a_setting_the_story_needs() -> None:
    def rotation(moves: Moves, settings: dict[str, Any]) -> bool:
        return bool(settings.get("oauth.refresh_token_rotation")) and moves[-1]["action"] == "user_call"

    replay, _ = replaying(rotation)
    settings = {"oauth.refresh_token_rotation": True, "oauth.token_response_fields": "legacy"}
    result = shrink(replay, STORY, settings, False, max_replays=200, deadline=1e12)
    assert result.replayed is not None
    assert result.replayed.settings == {"oauth.refresh_token_rotation": True}
    assert [m["action"] for m in result.replayed.moves] == ["user_call"]


def test_a_story_that_does_not_break_again_is_left_as_found() -> None:
    replay, seen = replaying(lambda moves, settings: False)
    result = shrink(replay, STORY, {}, False, max_replays=50, deadline=1e12)
    assert result.replayed is None and len(seen) == 2  # tried twice: a race may not repeat at once


def test_stays_within_its_replays_and_its_time() -> None:
    replay, seen = replaying(needs_outage_and_race)
    result = shrink(replay, STORY, {}, False, max_replays=3, deadline=1e12)
    assert result.replays == 3 == len(seen)
    replay, seen = replaying(needs_outage_and_race)
    result = shrink(replay, STORY, {}, False, max_replays=100, deadline=time.perf_counter() - 1)
    assert result.replays == 0 and result.replayed is None
