"""How long `mockwise serve` takes to be ready: from starting the process to `sandbox.json` written
(it is written once every listener accepts connections). A benchmark, not a test.

    python bench/startup.py [--runs 5] [--json]

The first start in a fresh state directory also makes the sandbox CA and certificates; the goal
(under a second) is for the starts after it, with the certificates already in the state directory.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

from servers import Mockwise


def measure(runs: int = 5, cpu: int | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="mockwise-bench-startup-") as state:
        first = Mockwise(Path(state), http=False, cpu=cpu)
        first.stop()
        starts = []
        for _ in range(runs):
            server = Mockwise(Path(state), http=False, cpu=cpu)
            starts.append(server.ready_seconds)
            server.stop()
        http = Mockwise(Path(state) / "http", http=True, cpu=cpu)
        http.stop()
    return {
        "first_start_s": round(first.ready_seconds, 3),
        "starts_s": [round(s, 3) for s in starts],
        "median_s": round(statistics.median(starts), 3),
        "max_s": round(max(starts), 3),
        "http_s": round(http.ready_seconds, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = measure(args.runs)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"first start (makes the CA and certificates): {result['first_start_s']:.3f} s")
    print(f"restarts with certificates in the state directory: median {result['median_s']:.3f} s, ", end="")
    print(f"max {result['max_s']:.3f} s over {args.runs} ({', '.join(map(str, result['starts_s']))})")
    print(f"--http (no TLS): {result['http_s']:.3f} s")


if __name__ == "__main__":
    main()
