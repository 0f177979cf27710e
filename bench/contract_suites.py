"""The contract suites' cost, against the issue's goals: default runs, timed end to end.

    python bench/contract_suites.py [--only NAME ...] [--examples N]

Each scenario is one `run_contracts` with the default settings (stories, steps, shrinking), on a
fresh local sandbox. It prints wall time, stories, steps and where the time went (exploring,
shrinking and its replays, client processes started, CPU), then each goal, met or not:

- a correct client, in-process and as a subprocess: a verdict within 30 s;
- a one-bug client: its verdict, with a shrunk story, within 60 s;
- the README's example client (several bugs): within 120 s, each broken obligation with a story of
  8 steps or fewer;
- the correct client judged against a running `mockwise serve` (`--sandbox`), with its state kept
  (SQLite, the default) and in memory: within twice the in-process time, side by side with it.

Subprocess scenarios need Debian's faketime (without it the clock obligations are not exercised,
and the run says so). Wall times depend on the machine's load: run it on a quiet one.
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mockwise.contracts.report import Report
from mockwise.contracts.runner import Arena, arena_for, client_for, run_contracts

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Scenario:
    name: str
    spec: str | None  # a Python client, module:factory
    command: str | None  # or a command
    goal: float  # seconds
    max_story: int | None = None  # steps, for every broken obligation
    served: str | None = None  # against a running `mockwise serve`: "state" (SQLite) or "memory"


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
    # goal: twice the in-process time, filled in once that is measured
    Scenario(
        "correct client, --sandbox (state kept)",
        "mockwise.contracts.reference:factory",
        None,
        0,
        None,
        "state",
    ),
    Scenario(
        "correct client, --sandbox (in memory)",
        "mockwise.contracts.reference:factory",
        None,
        0,
        None,
        "memory",
    ),
)


@contextlib.contextmanager
def served(how: str) -> Iterator[Arena]:
    """A `mockwise serve` on free ports of this machine, in a state directory of its own, and the
    arena the suites find it by (as `--sandbox DIR` does)."""
    with tempfile.TemporaryDirectory(prefix="mockwise-bench-") as state:
        command = [sys.executable, "-m", "mockwise", "serve", "--port", "0", "--mtls-port", "0"]
        command += ["--state-dir", state, "--quiet"] + (["--in-memory"] if how == "memory" else [])
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(300):
                if (Path(state) / "sandbox.json").exists():
                    break
                time.sleep(0.1)
            with arena_for(state) as arena:
                yield arena
        finally:
            server.terminate()
            server.wait(timeout=30)


def cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure(scenario: Scenario, examples: int | None) -> tuple[Report, float, float, int]:
    make, clock, name = client_for(scenario.spec, scenario.command)
    with served(scenario.served) if scenario.served else contextlib.nullcontext() as arena:
        began, cpu_began = time.perf_counter(), cpu()  # (the server's own CPU is not counted)
        report = run_contracts(make, clock, name=name, examples=examples, arena=arena)
    spawned = int(getattr(make, "spawned", 0))
    return report, time.perf_counter() - began, cpu() - cpu_began, spawned


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="scenarios whose name contains one of these words")
    parser.add_argument("--examples", type=int, default=None, help="stories (default: the default run's)")
    args = parser.parse_args()
    chosen = [s for s in SCENARIOS if not args.only or any(word in s.name for word in args.only)]
    header = (
        f"{'scenario':<40} {'wall s':>7} {'stories':>7} {'steps':>6} {'explore':>8} {'shrink':>7} "
        f"{'replays':>7} {'procs':>5} {'cpu s':>6}  broken"
    )
    print(header)
    results = []
    in_process: float | None = None
    for scenario in chosen:
        report, wall, used, spawned = measure(scenario, args.examples)
        if scenario.name == "correct client, in-process":
            in_process = wall
        if scenario.served:
            goal = 2 * in_process if in_process is not None else float("inf")
            scenario = Scenario(scenario.name, scenario.spec, None, goal, None, scenario.served)
        results.append((scenario, report, wall))
        print(
            f"{scenario.name:<40} {wall:7.1f} {report.examples:7d} {report.steps:6d} "
            f"{report.timings.get('explore', 0):8.1f} {report.timings.get('shrink', 0):7.1f} "
            f"{report.replays:7d} {spawned:5d} {used:6.1f}  {', '.join(report.broken) or '-'}",
            flush=True,
        )
        for note in report.notes:
            print(f"{'':<40} note: {note}")
    print()
    print(f"{'goal':<66} {'measured':>9}  verdict")
    for scenario, report, wall in results:
        longest = max((len(v.counterexample.story) for v in report.verdicts if v.counterexample), default=0)
        met = wall <= scenario.goal and (scenario.max_story is None or longest <= scenario.max_story)
        story = f", stories <= {scenario.max_story} steps (longest {longest})" if scenario.max_story else ""
        twice = " (2x in-process)" if scenario.served else ""
        goal = f"{scenario.name}: <= {scenario.goal:.0f} s{twice}{story}"
        print(f"{goal:<66} {wall:8.1f}s  {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
