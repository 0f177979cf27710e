"""A verdict must replay (issue 28): a counterexample whose story keeps the obligation when it is
told again is reported as such, with what that means, rather than passed off as a plain failure."""

from __future__ import annotations

import json

from mockwise.contracts.reference import PendingLink, ReferenceClient
from mockwise.contracts.runner import Arena, python_client, run_contracts


class SkipsTheFirstStateCheckOnly(ReferenceClient):
    """Accepts one foreign redirect in the whole run (a bug that happens once: no replay shows it)."""

    spent = False

    def _state_matches(self, pending: PendingLink | None, returned: str | None) -> bool:
        if not SkipsTheFirstStateCheckOnly.spent and not super()._state_matches(pending, returned):
            SkipsTheFirstStateCheckOnly.spent = True
            return True
        return super()._state_matches(pending, returned)


def test_a_counterexample_that_does_not_replay_says_so(arena: Arena) -> None:
    SkipsTheFirstStateCheckOnly.spent = False
    make, clock = python_client(f"{__name__}:SkipsTheFirstStateCheckOnly")
    report = run_contracts(make, clock, name="once", examples=10, arena=arena)
    assert report.broken == ["STATE-CHECKED"]
    [verdict] = [v for v in report.verdicts if v.counterexample is not None]
    assert verdict.counterexample is not None and verdict.counterexample.reproduced is False
    assert "the story kept the obligation each time" in report.text()
    assert "finding against the suites" in report.text()
    [obligation] = [o for o in json.loads(report.as_json_text())["obligations"] if o["status"] == "FAIL"]
    assert obligation["counterexample"]["reproduced"] is False


def test_a_counterexample_that_replays_says_nothing_more(arena: Arena) -> None:
    from mockwise.contracts.mutants import SkipsStateCheck

    make, clock = python_client(f"{SkipsStateCheck.__module__}:SkipsStateCheck")
    report = run_contracts(make, clock, name="always", examples=10, arena=arena)
    [verdict] = [v for v in report.verdicts if v.counterexample is not None]
    assert verdict.counterexample is not None and verdict.counterexample.reproduced is True
    assert "kept the obligation each time" not in report.text()
