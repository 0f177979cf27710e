"""Counterexamples: shrunk to a short readable story, written as a scenario file, replayable."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from mockwise.contracts.report import Report
from mockwise.contracts.runner import Arena, fail_fast, python_client, replay, run_contracts

MUTANT = "mockwise.contracts.mutants:SkipsStateCheck"


def run(arena: Arena, client: str, tmp_path: Path) -> Report:
    make, clock = python_client(client)
    return run_contracts(make, clock, name=client, examples=20, arena=arena, scenario_dir=tmp_path)


def test_a_broken_obligation_comes_with_a_short_story_and_a_scenario_file(
    arena: Arena, tmp_path: Path
) -> None:
    report = run(arena, MUTANT, tmp_path)
    assert report.broken == ["STATE-CHECKED"] and not report.passed
    [verdict] = [v for v in report.verdicts if not v.passed]
    counterexample = verdict.counterexample
    assert counterexample is not None and counterexample.shrunk
    assert len(counterexample.story) <= 3  # shrunk: a link whose redirect came back tampered
    text = report.text()
    assert "FAIL  STATE-CHECKED" in text and "tamper=" in text
    assert "accepted a redirect whose state was not its own" in text
    [scenario_file] = tmp_path.glob("*.json")
    scenario = json.loads(scenario_file.read_text())
    assert scenario["obligation"] == "STATE-CHECKED" and scenario["moves"] and scenario["steps"]

    make, clock = python_client(MUTANT)
    still = replay(scenario, make, clock, arena, keep=False)
    assert {v.obligation for v in still.judge.violations} == {"STATE-CHECKED"}
    make, clock = python_client("mockwise.contracts.reference:factory")
    healed = replay(scenario, make, clock, arena, keep=False)
    assert healed.judge.violations == []


def test_reports_for_ci(arena: Arena, tmp_path: Path) -> None:
    make, clock = python_client(MUTANT)
    report = run_contracts(make, clock, name=MUTANT, arena=arena, shrink=False, enough=fail_fast)
    suite = ET.fromstring(report.junit_xml())  # noqa: S314 - our own output
    assert suite.get("failures") == "1" and int(suite.get("tests") or 0) == len(report.verdicts)
    failure = suite.find("testcase/failure")
    assert failure is not None and failure.get("type") == "STATE-CHECKED"
    data = json.loads(report.as_json_text())
    assert data["passed"] is False
    broken = [o for o in data["obligations"] if not o["passed"]]
    assert [o["id"] for o in broken] == ["STATE-CHECKED"] and broken[0]["counterexample"]["scenario"]["moves"]
    assert broken[0]["situations"]["total"] >= 1 and broken[0]["status"] == "FAIL"
    # a run stopped early says so, and says which obligations it did not get to
    assert any("exploration stopped after" in note for note in report.notes)
    assert all(o["status"] in ("PASS", "FAIL", "SKIP") for o in data["obligations"])


def test_every_verdict_says_how_often_its_situation_occurred(arena: Arena) -> None:
    make, clock = python_client("mockwise.contracts.reference:factory")
    report = run_contracts(make, clock, name="reference", examples=10, shrink=False, arena=arena)
    lines = {
        line.split()[1]: line for line in report.text().splitlines() if line.startswith(("PASS", "SKIP"))
    }
    assert "foreign redirects" in lines["STATE-CHECKED"] or "not exercised" in lines["STATE-CHECKED"]
    exercised = [v for v in report.verdicts if v.exercised]
    assert exercised and all(v.occurred and v.occurred in lines[v.obligation.id] for v in exercised)
    for verdict in report.verdicts:
        if not verdict.exercised:  # never PASS without its situation
            assert lines[verdict.obligation.id].startswith("SKIP") and "not exercised" in verdict.skip_reason
