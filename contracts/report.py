"""Verdicts: each obligation kept, broken or not exercised, with how often its situation occurred;
a broken one with a short readable counterexample and a scenario file to replay it
(`mockwise replay FILE`); JSON and JUnit XML for CI."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from mockwise.contracts.obligations import Obligation
from mockwise.contracts.variation import Tally
from mockwise.contracts.world import Move, Step

# version 1 files (steps only) still replay; version 2 files name settings `fidelity`, by flat name
SCENARIO_VERSION = 3


@dataclass
class Counterexample:
    obligation: str
    violation: str  # the judge's account: what was broken, with the journal entries that show it
    story: list[Step]  # the shortest story found
    moves: list[Move] | list[dict[str, Any]]
    settings: dict[str, Any]  # the sandbox's settings the story ran with, by dotted key
    redirect_query: bool = False
    shrunk: bool = True
    # Whether replaying the story broke the obligation again (None: not replayed, --no-shrink)
    reproduced: bool | None = None
    replays: int = 0

    def text(self) -> str:
        found = "shortest story found" if self.shrunk else "story found; not shrunk"
        lines = [f"  What happened ({found}):"]
        lines += [f"    {step.line()}" for step in self.story]
        lines += ["  What was wrong:"] + [f"    {line}" for line in self.violation.splitlines()]
        settings = dict(self.settings)
        if self.redirect_query:
            settings["redirect_uri"] = "registered with a query string"
        if settings:
            lines.append(f"  Sandbox settings: {settings}")
        if self.reproduced is False:
            lines.append(
                f"  Replayed {self.replays} times, the story kept the obligation each time. If the client "
                "races (several workers at once), the race did not happen again; if not, the verdict "
                "turned on something other than the client: that is a finding against the suites, "
                "please report it with this story."
            )
        return "\n".join(lines)

    def scenario(self, client: str) -> dict[str, Any]:
        return {
            "mockwise_scenario": SCENARIO_VERSION,
            "client": client,
            "obligation": self.obligation,
            "settings": self.settings,
            "redirect_query": self.redirect_query,
            "moves": [m.as_json() if isinstance(m, Move) else m for m in self.moves],
            "steps": [step.as_json() for step in self.story],
        }


@dataclass
class Verdict:
    obligation: Obligation
    counterexample: Counterexample | None
    situations: Counter[str] = field(default_factory=Counter)
    reason: str = ""  # why it was not exercised, when it was not

    @property
    def passed(self) -> bool:
        return self.counterexample is None

    @property
    def exercised(self) -> bool:
        return self.counterexample is not None or sum(self.situations.values()) > 0

    @property
    def status(self) -> str:
        return "FAIL" if not self.passed else "PASS" if self.exercised else "SKIP"

    @property
    def skip_reason(self) -> str:
        """Why the obligation was not exercised ("" when it was)."""
        return "" if self.exercised else f"not exercised: {self.reason}"

    @property
    def occurred(self) -> str:
        """How often its situation occurred: "31 foreign redirects (6 kinds)"."""
        total = sum(self.situations.values())
        if not total:
            return ""
        kinds = len(self.situations)
        return f"{total} {self.obligation.situation}" + (f" ({kinds} kinds)" if kinds > 1 else "")

    def as_json(self, client: str) -> dict[str, Any]:
        return {
            **self.obligation.as_json(),
            "status": self.status,
            "passed": self.passed,
            "exercised": self.exercised,
            "not_exercised_because": self.reason if not self.exercised else None,
            "situations": {"total": sum(self.situations.values()), "kinds": dict(self.situations)},
            "counterexample": None
            if self.counterexample is None
            else {
                "violation": self.counterexample.violation,
                "story": [s.line() for s in self.counterexample.story],
                "scenario": self.counterexample.scenario(client),
                "reproduced": self.counterexample.reproduced,
            },
        }


@dataclass
class Report:
    client: str
    profile: str
    verdicts: list[Verdict]
    examples: int
    steps: int
    seconds: float
    notes: list[str] = field(default_factory=list)  # what limited the run, one line each
    timings: dict[str, float] = field(default_factory=dict)  # explore, shrink (seconds)
    replays: int = 0
    variation: Tally = field(default_factory=Tally)  # how often each variation point took each value
    stopped: str = ""  # why the run stopped before its end (a client process died), if it did

    @property
    def passed(self) -> bool:
        return not self.stopped and all(v.passed for v in self.verdicts)

    @property
    def broken(self) -> list[str]:
        return [v.obligation.id for v in self.verdicts if not v.passed]

    @property
    def not_exercised(self) -> list[str]:
        return [v.obligation.id for v in self.verdicts if not v.exercised]

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.seconds if self.seconds else 0.0

    def text(self) -> str:
        width = max(len(v.obligation.id) for v in self.verdicts)
        kept = len(self.verdicts) - len(self.broken) - len(self.not_exercised)
        skipped = f", {len(self.not_exercised)} not exercised" if self.not_exercised else ""
        head = (
            f"Wise client contract: {self.client} (profile {self.profile}) — "
            f"{kept}/{len(self.verdicts)} obligations kept, {len(self.broken)} broken{skipped}; "
            f"{self.examples} stories, {self.steps} steps in {self.seconds:.1f} s"
        )
        lines = [head]
        lines += [f"STOPPED  {self.stopped}"] if self.stopped else []
        lines += [f"NOTE  {note}" for note in self.notes]
        lines.append("")
        for verdict in self.verdicts:
            o = verdict.obligation
            why = f"  ({verdict.skip_reason})" if not verdict.exercised else ""
            why = why or (f"  — {verdict.occurred}" if verdict.occurred else "")
            lines.append(f"{verdict.status}  {o.id:<{width}}  {o.statement}  [{o.severity}; {o.source}]{why}")
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
            "stopped": self.stopped or None,
            "examples": self.examples,
            "steps": self.steps,
            "seconds": round(self.seconds, 3),
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "notes": self.notes,
            "not_exercised": self.not_exercised,
            "obligations": [v.as_json(self.client) for v in self.verdicts],
            "variation": self.variation.as_json(),
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
            head = f'  <testcase classname="wise-contract" name={name} time="0">'
            occurred = f"<system-out>{escape(v.occurred)}</system-out>" if v.occurred else ""
            if not v.exercised:
                cases.append(f"{head}<skipped message={quoteattr(v.skip_reason)}/></testcase>")
            elif v.counterexample is None:
                cases.append(f"{head}{occurred}</testcase>")
            else:
                body = escape(v.counterexample.text())
                cases.append(
                    f"{head}\n"
                    f"    <failure message={quoteattr(o.statement)} type={quoteattr(o.id)}>{body}</failure>\n"
                    f"    {occurred}\n"
                    f"  </testcase>"
                )
        if self.stopped:  # CI must not take a run that never happened for skipped tests
            cases.append(
                '  <testcase classname="wise-contract" name="the client process" time="0">'
                f"<error message={quoteattr(self.stopped)}/></testcase>"
            )
        properties = "".join(
            f"    <property name={quoteattr('note')} value={quoteattr(note)}/>\n" for note in self.notes
        )
        return (
            '<?xml version="1.0" encoding="utf-8"?>\n'
            f"<testsuite name={quoteattr('wise-contract ' + self.client)} "
            f'tests="{len(self.verdicts) + bool(self.stopped)}" '
            f'failures="{len(self.broken)}" errors="{int(bool(self.stopped))}" '
            f'skipped="{len(self.not_exercised)}" time="{self.seconds:.3f}">\n'
            + (f"  <properties>\n{properties}  </properties>\n" if properties else "")
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
