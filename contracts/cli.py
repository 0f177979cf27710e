"""`mockwise contract` and `mockwise replay` (their arguments are in `mockwise._standalone.cli`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mockwise.contracts.progress import Progress
from mockwise.contracts.runner import arena_for, client_for, replay, run_contracts


def contract(args: argparse.Namespace) -> int:
    make, clock, name = client_for(args.client, args.client_cmd)
    with arena_for(args.sandbox, args.admin_token) as arena:
        report = run_contracts(
            make,
            clock,
            name=name,
            profile=args.profile,
            examples=args.examples,
            steps=args.steps,
            shrink=not args.no_shrink,
            arena=arena,
            scenario_dir=Path(args.scenarios) if args.scenarios else None,
            budget=args.budget,
            progress=Progress(None if args.quiet else sys.stderr),
        )
    print(report.text())
    report.write(args.junit, args.json)
    if args.scenarios and not report.passed:
        print(f"\nScenario files in {args.scenarios}: replay one with `mockwise replay FILE --client ...`")
    return 0 if report.passed else 1


def replay_scenario(args: argparse.Namespace) -> int:
    scenario = json.loads(Path(args.file).read_text(encoding="utf-8"))
    make, clock, _ = client_for(args.client, args.client_cmd)
    with arena_for(args.sandbox, args.admin_token) as arena:
        world = replay(scenario, make, clock, arena, profile=args.profile, keep=args.sandbox is not None)
        print(f"Replayed {len(world.story)} steps in tenant {world.tenant.id!r}:")
        for step in world.story:
            print(f"  {step.line()}")
        if args.sandbox:
            dashboard = f"{arena.endpoints['api_url']}/_mockwise/tenants/{world.tenant.id}/dashboard"
            print(f"\nWatch it in the dashboard: {dashboard}")
    target = scenario.get("obligation")
    broken = [v for v in world.judge.violations if target in (None, v.obligation)]
    if broken:
        print("\nStill broken:")
        for violation in broken:
            print(violation.render())
        return 1
    print(f"\n{target or 'Every obligation'} held this time.")
    return 0
