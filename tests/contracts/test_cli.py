"""`mockwise contract` and `mockwise replay` as a partner's CI runs them: exit status, the report,
the JUnit and JSON files, and a scenario file replayed against a client."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from mockwise._standalone.cli import main
from mockwise.contracts.obligations import catalog

SCENARIO = {
    "mockwise_scenario": 1,
    "client": "mockwise.contracts.mutants:SkipsStateCheck",
    "obligation": "STATE-CHECKED",
    "fidelity": {},
    "steps": [
        {"action": "create_user", "args": {"key": "c1"}},
        {"action": "start_link", "args": {"key": "l2", "person": "alex", "date_of_birth": "1985-04-12"}},
        {"action": "finish_link", "args": {"key": "l2", "tampered": True}},
    ],
}


def test_contract_writes_its_verdicts_for_ci(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junit, verdicts = tmp_path / "junit.xml", tmp_path / "verdicts.json"
    argv = ["contract", "--client", "mockwise.contracts.reference:factory", "--examples", "4", "--steps", "6"]
    status = main([*argv, "--junit", str(junit), "--json", str(verdicts), "--quiet"])
    assert status == 0
    out = capsys.readouterr()
    assert "obligations kept, 0 broken" in out.out and out.err == ""
    report = json.loads(verdicts.read_text(encoding="utf-8"))
    assert report["passed"] is True and len(report["obligations"]) == len(catalog("wise"))  # not strict
    suite = ET.parse(junit).getroot()  # noqa: S314 - our own output
    assert suite.get("failures") == "0" and len(suite.findall(".//testcase")) == len(report["obligations"])
    # four short stories cannot put everything to the test, and the reports say which they missed
    assert int(suite.get("skipped") or 0) == len(report["not_exercised"]) > 0


def test_a_budget_bounds_the_run_and_progress_shows_in_ci(capsys: pytest.CaptureFixture[str]) -> None:
    began = time.perf_counter()
    status = main(["contract", "--client", "mockwise.contracts.mutants:SkipsStateCheck", "--budget", "8"])
    assert status == 1 and time.perf_counter() - began < 30
    out = capsys.readouterr()
    assert "FAIL  STATE-CHECKED" in out.out and "exploration stopped after" in out.out
    assert "explore " in out.err and "broken: " in out.err  # not a terminal: plain lines


def test_replay_tells_a_broken_client_from_a_mended_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = tmp_path / "scenario.json"
    scenario.write_text(json.dumps(SCENARIO), encoding="utf-8")
    assert main(["replay", str(scenario), "--client", "mockwise.contracts.mutants:SkipsStateCheck"]) == 1
    assert "Still broken:\n[STATE-CHECKED]" in capsys.readouterr().out
    assert main(["replay", str(scenario), "--client", "mockwise.contracts.reference:factory"]) == 0
    assert "STATE-CHECKED held this time." in capsys.readouterr().out
