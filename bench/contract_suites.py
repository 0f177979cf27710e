"""The contract suites' cost: a full run against the reference client, in steps per second.

    python bench/contract_suites.py [examples] [steps]

The kill matrix runs this 22 times (the reference and 21 mutants)."""

from __future__ import annotations

import sys
import time

from contracts.reference import ReferenceClient
from contracts.runner import _time_machine_or_nothing, arena_for, run_contracts


def main() -> None:
    examples = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 25
    began = time.perf_counter()
    with arena_for() as arena:
        ready = time.perf_counter() - began
        report = run_contracts(
            lambda config, clock: ReferenceClient(config),
            _time_machine_or_nothing,
            name="reference",
            examples=examples,
            steps=steps,
            shrink=False,
            arena=arena,
        )
    print(f"arena start-up             {ready * 1000:8.1f} ms")
    print(f"stories                    {report.examples:8d}")
    print(f"state-machine steps        {report.steps:8d}")
    print(f"run                        {report.seconds:8.2f} s")
    print(f"steps per second           {report.steps_per_second:8.1f}")
    print(f"verdict                    {'all obligations kept' if report.passed else report.broken}")


if __name__ == "__main__":
    main()
