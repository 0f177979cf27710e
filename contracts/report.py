"""Verdicts: each obligation passed or broken, with a short readable counterexample, a scenario
file to replay it (`mockwise replay FILE`), and JSON and JUnit XML for CI."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from contracts.obligations import Obligation
from contracts.world import Step

SCENARIO_VERSION = 1


@dataclass
class Counterexample:
    obligation: str
    violation: str  # the judge's account: what was broken, with the journal entries that show it
    story: list[Step]  # the shortest story found
    program: str  # hypothesis's own rendering of the failing program
    fidelity: dict[str, Any]

    def text(self) -> str:
        lines = ["  What happened (shortest story found):"]
        lines += [f"    {step.line()}" for step in self.story]
        lines += ["  What was wrong:"] + [f"    {line}" for line in self.violation.splitlines()]
        if self.fidelity:
            lines.append(f"  Sandbox settings: {self.fidelity}")
        return "\n".join(lines)

    def scenario(self, client: str) -> dict[str, Any]:
        return {
            "mockwise_scenario": SCENARIO_VERSION,
            "client": client,
            "obligation": self.obligation,
            "fidelity": self.fidelity,
            "steps": [step.as_json() for step in self.story],
        }


@dataclass
class Verdict:
    obligation: Obligation
    counterexample: Counterexample | None
    exercised: bool = True  # False: the client lacks the optional operation the obligation needs

    @property
    def passed(self) -> bool:
        return self.counterexample is None

    @property
    def skip_reason(self) -> str:
        """Why the obligation was not exercised ("" when it was)."""
        return "" if self.exercised else f"not exercised: the client has no {self.obligation.needs}"


@dataclass
class Report:
    client: str
    profile: str
    verdicts: list[Verdict]
    examples: int
    steps: int
    seconds: float

    @property
    def passed(self) -> bool:
        return all(v.passed for v in self.verdicts)

    @property
    def broken(self) -> list[str]:
        return [v.obligation.id for v in self.verdicts if not v.passed]

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.seconds if self.seconds else 0.0

    def text(self) -> str:
        width = max(len(v.obligation.id) for v in self.verdicts)
        head = (
            f"Wise client contract: {self.client} (profile {self.profile}) — "
            f"{len(self.verdicts) - len(self.broken)}/{len(self.verdicts)} obligations kept; "
            f"{self.examples} stories, {self.steps} steps in {self.seconds:.1f} s"
        )
        lines = [head, ""]
        for verdict in self.verdicts:
            mark = "FAIL" if not verdict.passed else "PASS" if verdict.exercised else "SKIP"
            o = verdict.obligation
            note = f"  ({verdict.skip_reason})" if verdict.skip_reason else ""
            lines.append(f"{mark}  {o.id:<{width}}  {o.statement}  [{o.severity}; {o.source}]{note}")
        for verdict in self.verdicts:
            if verdict.counterexample is not None:
                lines += ["", f"FAIL {verdict.obligation.id}: {verdict.obligation.statement}"]
                lines.append(verdict.counterexample.text())
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        return {
            "client": self.client,
            "profile": self.profile,
            "passed": self.passed,
            "examples": self.examples,
            "steps": self.steps,
            "seconds": round(self.seconds, 3),
            "obligations": [
                {
                    **v.obligation.as_json(),
                    "passed": v.passed,
                    "exercised": v.exercised,
                    "counterexample": None
                    if v.counterexample is None
                    else {
                        "violation": v.counterexample.violation,
                        "story": [s.line() for s in v.counterexample.story],
                        "scenario": v.counterexample.scenario(self.client),
                    },
                }
                for v in self.verdicts
            ],
        }

    def write(self, junit: str | None = None, json_file: str | None = None) -> None:
        """The verdicts as JUnit XML and as JSON, into the files given (for CI)."""
        for target, render in ((junit, self.junit_xml), (json_file, self.as_json_text)):
            if target:
                Path(target).write_text(render(), encoding="utf-8")

    def as_json_text(self) -> str:
        return json.dumps(self.as_json(), indent=2) + "\n"

    def junit_xml(self) -> str:
        cases = []
        for v in self.verdicts:
            o = v.obligation
            name = quoteattr(f"{o.id}: {o.statement}")
            if not v.exercised:
                skipped = quoteattr(v.skip_reason)
                cases.append(
                    f'  <testcase classname="wise-contract" name={name} time="0">'
                    f"<skipped message={skipped}/></testcase>"
                )
            elif v.counterexample is None:
                cases.append(f'  <testcase classname="wise-contract" name={name} time="0"/>')
            else:
                body = escape(v.counterexample.text())
                cases.append(
                    f'  <testcase classname="wise-contract" name={name} time="0">\n'
                    f"    <failure message={quoteattr(o.statement)} type={quoteattr(o.id)}>{body}</failure>\n"
                    f"  </testcase>"
                )
        unexercised = sum(not v.exercised for v in self.verdicts)
        return (
            '<?xml version="1.0" encoding="utf-8"?>\n'
            f'<testsuite name={quoteattr("wise-contract " + self.client)} tests="{len(self.verdicts)}" '
            f'failures="{len(self.broken)}" skipped="{unexercised}" time="{self.seconds:.3f}">\n'
            + "\n".join(cases)
            + "\n</testsuite>\n"
        )

    def write_scenarios(self, directory: Path) -> list[Path]:
        directory.mkdir(parents=True, exist_ok=True)
        written = []
        for v in self.verdicts:
            if v.counterexample is not None:
                path = directory / f"{_slug(self.client)}-{v.obligation.id}.json"
                path.write_text(
                    json.dumps(v.counterexample.scenario(self.client), indent=2) + "\n", encoding="utf-8"
                )
                written.append(path)
        return written


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:60] or "client"
