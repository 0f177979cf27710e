"""One run of the suites: a fresh tenant, the client under test, and every move either can make.

Stories (`mockwise.contracts.stories`) draw moves; `mockwise replay` and the shrinker read them
from a story; all call the methods of `World`, and after each one the judge reads what the sandbox
saw. Every move is written to `World.moves` (what a scenario file replays) and shown as one or more
`World.story` steps (what a counterexample reads like).

The moves live in `mockwise.contracts.moves`, a module per family (the partner's operations,
linking and its journeys, Wise's side); `World` is all of them, and replays a story's moves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mockwise.contracts.moves.base import (
    DELAY,
    IMPOSTOR_SECONDS,
    RENEWAL_POINT,
    RETRY_AFTER,
    ClientFactory,
    Listeners,
    Move,
    Step,
    UserModel,
    _guarded,
    raised,
)
from mockwise.contracts.moves.linking import LINKABLE, LinkingMoves, near_miss, scripted_approval, tampered
from mockwise.contracts.moves.partner import PartnerMoves
from mockwise.contracts.moves.wise import WiseMoves

__all__ = [
    "DELAY", "IMPOSTOR_SECONDS", "LINKABLE", "MOVES", "RENEWAL_POINT", "RETRY_AFTER", "ClientFactory",
    "Listeners", "Move", "Step", "UserModel", "World", "_guarded", "moves_of_steps", "near_miss", "raised",
    "scripted_approval", "tampered",
]  # fmt: skip


class World(PartnerMoves, LinkingMoves, WiseMoves):
    """A story's tenant, client and judge, and every move either side can make."""

    # Replay -------------------------------------------------------------------------------------

    def replay(self, moves: list[dict[str, Any]], stop: Callable[[], bool] | None = None) -> None:
        """Make the moves of a story (`Move.as_json()` items) in order. Customers are named by the
        keys this run gives them (a shortened story numbers them differently); a move for a
        customer the story no longer makes is made for nobody. `stop`: asked after each move."""
        keys: dict[str, str] = {}
        for item in moves:
            action, args = item["action"], dict(item.get("args", {}))
            for name in ("user", "whose"):
                if isinstance(args.get(name), str) and args[name] != "partner":
                    args[name] = keys.get(args[name], f"gone-{args[name]}")
            with self.listeners.around(action):
                made = getattr(self, action)(**args)
            if item.get("created") and isinstance(made, str):
                keys[item["created"]] = made
            if stop is not None and stop():
                return


MOVES = frozenset({
    "partner_call", "partner_calls_concurrently", "create_user", "link_user", "relink", "link_twice",
    "user_call", "fund_transfer", "user_calls_concurrently", "advance", "advance_to_expiry", "revoke",
    "reclaim", "rotate_secret", "deploy_secret", "meet_impostor", "fault",
})  # fmt: skip


def moves_of_steps(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The moves of a scenario file written before moves were recorded (version 1): its steps,
    with start_link/finish_link joined into link_user and the old argument names."""
    moves: list[dict[str, Any]] = []
    for index, item in enumerate(steps):
        action, args = item["action"], dict(item.get("args", {}))
        if action == "start_link":
            finish = next((s for s in steps[index + 1 :] if s["action"] == "finish_link"), None)
            tamper = None
            if finish and finish["args"].get("key") == args["key"]:
                tamper = finish["args"].get("tamper") or (
                    "foreign" if finish["args"].get("tampered") else None
                )
            link: dict[str, Any] = {"person": args["person"]}
            if tamper:
                link["tamper"] = tamper
            if args.get("date_of_birth") == "1970-01-01":
                link["dob"] = "other"
            moves.append({"action": "link_user", "args": link, "created": args["key"]})
        elif action == "create_user":
            moves.append({"action": "create_user", "args": {}, "created": args.get("key")})
        elif action in MOVES:
            if "near_expiry" in args:
                args["at"] = RENEWAL_POINT if args.pop("near_expiry") else None
                if args["at"] is None:
                    del args["at"]
            moves.append({"action": action, "args": args})
    return moves
