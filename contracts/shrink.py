"""Shrinking a counterexample by replaying shorter stories.

Exploration keeps, for each broken obligation, the shortest story that broke it. The shrinker then
replays variations of it, each in a fresh tenant with a fresh client, and keeps any that still
breaks the same obligation: chunks of moves removed (later ones first, halving the chunk), then
arguments made plainer, then the sandbox's settings put back to their defaults. A replay stops at
the move that breaks the obligation, so every kept story also ends there.

It works on the story's moves, not on hypothesis's choices: a replay costs one short story (not a
whole generated one), the budget is counted in replays and seconds, and several obligations can be
shrunk side by side when the client allows it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from mockwise.contracts.judge import Violation
from mockwise.contracts.world import Step

Moves = list[dict[str, Any]]


@dataclass
class Replayed:
    """What one replay of a story came to: the violation (None: the obligation held) and the
    moves and steps up to it."""

    violation: Violation | None
    moves: Moves
    story: list[Step]
    settings: dict[str, Any]
    redirect_query: bool


Replay = Callable[[Moves, dict[str, Any], bool], Replayed]


@dataclass
class Shrunk:
    replayed: Replayed | None  # the shortest story that still broke it (None: none reproduced)
    replays: int


def shrink(
    replay: Replay,
    moves: Moves,
    settings: dict[str, Any],
    redirect_query: bool,
    *,
    max_replays: int,
    deadline: float,
    on_replay: Callable[[], None] = lambda: None,
) -> Shrunk:
    replays = 0

    def attempt(candidate: Moves, settings: dict[str, Any], query: bool) -> Replayed | None:
        nonlocal replays
        if replays >= max_replays or time.perf_counter() >= deadline:
            return None
        replays += 1
        on_replay()
        result = replay(candidate, settings, query)
        return result if result.violation is not None else None

    best = attempt(moves, settings, redirect_query) or attempt(moves, settings, redirect_query)
    if best is None:  # a race that did not happen again: the story found while exploring stands
        return Shrunk(None, replays)
    improved = True
    while improved:
        improved = False
        for candidate in _shorter(best.moves):
            found = attempt(candidate, best.settings, best.redirect_query)
            if found is not None and _size(found) < _size(best):
                best, improved = found, True
                break
        if improved:
            continue
        for candidate in _plainer(best.moves):
            found = attempt(candidate, best.settings, best.redirect_query)
            if found is not None and _size(found) <= _size(best):
                best, improved = found, True
                break
    for name in list(best.settings):  # the sandbox's defaults, where they break it too
        settings = {k: v for k, v in best.settings.items() if k != name}
        found = attempt(best.moves, settings, best.redirect_query)
        if found is not None and _size(found) <= _size(best):
            best = found
    if best.redirect_query:
        found = attempt(best.moves, best.settings, False)
        if found is not None and _size(found) <= _size(best):
            best = found
    return Shrunk(best, replays)


def _size(replayed: Replayed) -> tuple[int, int]:
    return len(replayed.story), len(replayed.moves)


def _shorter(moves: Moves) -> Iterator[Moves]:
    """The story without a chunk of its moves: big chunks first, later moves before earlier ones
    (the last move is where it broke: it stays)."""
    body = len(moves) - 1
    chunk = max(1, body // 2)
    while chunk >= 1:
        for start in range(body - chunk, -1, -chunk):
            yield moves[:start] + moves[start + chunk :]
        if chunk == 1:
            return
        chunk //= 2


#: Plainer values of a move's arguments, tried in order (an argument left out takes its default).
PLAINER: dict[str, list[Any]] = {
    "at": [None],
    "workers": [2],
    "times": [None, 2],
    "extra": [None],
    "profile": [None],
    "dob": [None, "other"],
    "tamper": ["foreign"],
    "both": [True],
}


def _plainer(moves: Moves) -> Iterator[Moves]:
    for index, move in enumerate(moves):
        for name, value in move.get("args", {}).items():
            for plain in PLAINER.get(name, []):
                if plain == value:
                    continue
                args = dict(move["args"])
                if plain is None:
                    del args[name]
                else:
                    args[name] = plain
                yield [*moves[:index], {**move, "args": args}, *moves[index + 1 :]]
