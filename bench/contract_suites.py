"""The contract suites' cost, against the issue's goals: default runs, timed end to end.

    python bench/contract_suites.py [--only NAME ...] [--examples N]

Each scenario is one `run_contracts` with the default settings (stories, steps, shrinking), on a
fresh local sandbox. It prints wall time, stories, steps and where the time went (exploring,
shrinking and its replays, client processes started, CPU), then each goal, met or not:

- a correct client, in-process and as a subprocess: a verdict within 30 s;
- a one-bug client: its verdict, with a shrunk story, within 60 s;
- the README's example client (several bugs): within 120 s, each broken obligation with a story of
  8 steps or fewer.

Subprocess scenarios need Debian's faketime (without it the clock obligations are not exercised,
and the run says so). Wall times depend on the machine's load: run it on a quiet one.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from mockwise.contracts.report import Report
from mockwise.contracts.runner import client_for, run_contracts

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Scenario:
    name: str
    spec: str | None  # a Python client, module:factory
    command: str | None  # or a command
    goal: float  # seconds
    max_story: int | None = None  # steps, for every broken obligation


SCENARIOS = (
    Scenario("correct client, in-process", "mockwise.contracts.reference:factory", None, 30),
    Scenario(
        "correct client, subprocess",
        None,
        f"{sys.executable} -m mockwise.contracts.subprocess_driver mockwise.contracts.reference:factory",
        30,
    ),
    Scenario("one-bug client (no state check)", "mockwise.contracts.mutants:SkipsStateCheck", None, 60, 8),
    Scenario("one-bug client (refresh after 401)", "mockwise.contracts.mutants:RefreshAfter401", None, 60, 8),
    Scenario(
        "README example client", None, f"{sys.executable} {ROOT / 'examples' / 'partner_client.py'}", 120, 8
    ),
)


def cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure(scenario: Scenario, examples: int | None) -> tuple[Report, float, float, int]:
    make, clock, name = client_for(scenario.spec, scenario.command)
    began, cpu_began = time.perf_counter(), cpu()
    report = run_contracts(make, clock, name=name, examples=examples)
    spawned = int(getattr(make, "spawned", 0))
    return report, time.perf_counter() - began, cpu() - cpu_began, spawned


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="scenarios whose name contains one of these words")
    parser.add_argument("--examples", type=int, default=None, help="stories (default: the default run's)")
    args = parser.parse_args()
    chosen = [s for s in SCENARIOS if not args.only or any(word in s.name for word in args.only)]
    header = (
        f"{'scenario':<36} {'wall s':>7} {'stories':>7} {'steps':>6} {'explore':>8} {'shrink':>7} "
        f"{'replays':>7} {'procs':>5} {'cpu s':>6}  broken"
    )
    print(header)
    results = []
    for scenario in chosen:
        report, wall, used, spawned = measure(scenario, args.examples)
        results.append((scenario, report, wall))
        print(
            f"{scenario.name:<36} {wall:7.1f} {report.examples:7d} {report.steps:6d} "
            f"{report.timings.get('explore', 0):8.1f} {report.timings.get('shrink', 0):7.1f} "
            f"{report.replays:7d} {spawned:5d} {used:6.1f}  {', '.join(report.broken) or '-'}",
            flush=True,
        )
        for note in report.notes:
            print(f"{'':<36} note: {note}")
    print()
    print(f"{'goal':<60} {'measured':>9}  verdict")
    for scenario, report, wall in results:
        longest = max((len(v.counterexample.story) for v in report.verdicts if v.counterexample), default=0)
        met = wall <= scenario.goal and (scenario.max_story is None or longest <= scenario.max_story)
        story = f", stories <= {scenario.max_story} steps (longest {longest})" if scenario.max_story else ""
        goal = f"{scenario.name}: <= {scenario.goal:.0f} s{story}"
        print(f"{goal:<60} {wall:8.1f}s  {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
