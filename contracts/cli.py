"""`mockwise contract` and `mockwise replay` (their arguments are in `mockwise._standalone.cli`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mockwise.contracts.progress import Progress
from mockwise.contracts.runner import arena_for, client_for, replay, run_contracts
from mockwise.contracts.subprocess_driver import ClientGone


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
    died = getattr(make, "died", None)
    if isinstance(died, ClientGone):
        # issue 23: a client that dies is diagnosed at once, in one line naming the input and the fix
        print(
            f"mockwise contract: --client-cmd {args.client_cmd!r}: {died}; run the command yourself with "
            "MOCKWISE_CONFIG set to see why (it must answer JSON lines on stdout: docs/contracts.md)",
            file=sys.stderr,
        )
        return 2 if not died.answered else 1  # one that never answered is a usage error
    return 0 if report.passed else 1


def replay_scenario(args: argparse.Namespace) -> int:
    scenario = json.loads(Path(args.file).read_text(encoding="utf-8"))
    make, clock, _ = client_for(args.client, args.client_cmd)
    with arena_for(args.sandbox, args.admin_token) as arena:
        try:
            world = replay(scenario, make, clock, arena, profile=args.profile, keep=args.sandbox is not None)
        except ClientGone as died:
            print(f"mockwise replay: --client-cmd {args.client_cmd!r}: {died}", file=sys.stderr)
            return 2 if not died.answered else 1
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
