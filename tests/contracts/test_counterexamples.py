"""Counterexamples: shrunk to a short readable story, written as a scenario file, replayable."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from contracts.mutants import SkipsStateCheck, factory_for
from contracts.reference import ReferenceClient
from contracts.runner import Arena, _time_machine_or_nothing, replay, run_contracts


def run(arena: Arena, client: type[ReferenceClient], tmp_path: Path):  # type: ignore[no-untyped-def]
    factory = factory_for(client)
    return run_contracts(
        lambda config, clock: factory(config),
        _time_machine_or_nothing,
        name=client.__name__,
        examples=20,
        steps=15,
        arena=arena,
        scenario_dir=tmp_path,
    )


def test_a_broken_obligation_comes_with_a_short_story_and_a_scenario_file(
    arena: Arena, tmp_path: Path
) -> None:
    report = run(arena, SkipsStateCheck, tmp_path)
    assert report.broken == ["STATE-CHECKED"] and not report.passed
    [verdict] = [v for v in report.verdicts if not v.passed]
    counterexample = verdict.counterexample
    assert counterexample is not None
    assert len(counterexample.story) <= 8  # shrunk: the seeded customers, then the tampered link
    text = report.text()
    assert "FAIL  STATE-CHECKED" in text and "tampered=True" in text
    assert "accepted a redirect whose state was not its own" in text
    [scenario_file] = tmp_path.glob("*.json")
    scenario = json.loads(scenario_file.read_text())
    assert scenario["obligation"] == "STATE-CHECKED" and scenario["steps"]

    factory = factory_for(SkipsStateCheck)
    still = replay(
        scenario, lambda config, clock: factory(config), _time_machine_or_nothing, arena, keep=False
    )
    assert {v.obligation for v in still.judge.violations} == {"STATE-CHECKED"}
    fixed = factory_for(ReferenceClient)
    healed = replay(
        scenario, lambda config, clock: fixed(config), _time_machine_or_nothing, arena, keep=False
    )
    assert healed.judge.violations == []


def test_reports_for_ci(arena: Arena, tmp_path: Path) -> None:
    report = run(arena, SkipsStateCheck, tmp_path)
    suite = ET.fromstring(report.junit_xml())  # noqa: S314 - our own output
    assert suite.get("failures") == "1" and int(suite.get("tests") or 0) == len(report.verdicts)
    failure = suite.find("testcase/failure")
    assert failure is not None and failure.get("type") == "STATE-CHECKED"
    data = json.loads(report.as_json_text())
    assert data["passed"] is False
    broken = [o for o in data["obligations"] if not o["passed"]]
    assert [o["id"] for o in broken] == ["STATE-CHECKED"] and broken[0]["counterexample"]["scenario"]["steps"]
