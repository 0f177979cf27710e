"""`python -m mockwise.contracts.coverage > docs/variation.md`: the variation catalog with how often
the default budget, told to the first reference client, took each value (`--json`: the counts)."""

from __future__ import annotations

import json
import sys

from mockwise.contracts.runner import python_client, run_contracts
from mockwise.contracts.variation import markdown


def main() -> None:
    make, clock = python_client("mockwise.contracts.reference:factory")
    report = run_contracts(make, clock, name="reference", shrink=False)
    if sys.argv[1:] == ["--json"]:
        print(json.dumps(report.variation.as_json(), indent=2))
    else:
        sys.stdout.write(markdown(report.variation))


if __name__ == "__main__":  # pragma: no cover
    main()
