"""The state database of `mockwise serve`: start-up with many stored tokens, and the file's size as
tokens come and go. A benchmark, not a test.

    python bench/state.py [--tokens 1000000] [--runs 3] [--json]

1. A state directory whose default tenant holds `--tokens` client-credentials tokens, issued through
   the domain and written as the server writes them (`Sandbox(store=SqliteStore(...))`).
2. `mockwise serve` (HTTPS and mTLS, as users start it) on that directory, timed from starting the
   process to `sandbox.json` written, `--runs` times (after a first start that makes the
   certificates); it prints what it restored.
3. Growth: the tokens expire and are collected, the same number is issued again, and the file is
   measured after each step (its WAL copied in): freed pages are used again, so it does not grow.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from servers import Mockwise

from mockwise import Sandbox
from mockwise._store import STATE_FILE, SqliteStore


def size(path: Path) -> int:
    """The database file's size once its WAL is copied in."""
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    return path.stat().st_size


def issue(sandbox: Sandbox, count: int) -> float:
    tenant = sandbox.tenant("default")
    client = tenant.client("mockwise-partner")
    began = time.perf_counter()
    for n in range(count):
        with tenant.lock:
            tenant.tokens.client_credentials(client)
        if n % 10_000 == 9_999:
            sandbox.flush()
    sandbox.flush()
    return time.perf_counter() - began


def measure(tokens: int, runs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="mockwise-bench-state-") as tmp:
        state = Path(tmp)
        database = state / STATE_FILE
        sandbox = Sandbox(store=SqliteStore(database))
        sandbox.create_tenant("default", fixed=True)
        sandbox.tenant("default").rate_limits.configure(enabled=True)
        issuing = issue(sandbox, tokens)
        sandbox.close()
        stored = size(database)

        first = Mockwise(state, http=False)  # makes the CA and certificates
        first.stop()
        starts = []
        for _ in range(runs):
            server = Mockwise(state, http=False)
            starts.append(server.ready_seconds)
            server.stop()

        sandbox = Sandbox(store=SqliteStore(database))
        tenant = sandbox.tenant("default")
        tenant.clock.advance(43200 + tenant.settings.oauth.expired_token_memory + 1)
        collected = tenant.collect()
        sandbox.flush()
        after_collection = size(database)
        issue(sandbox, tokens)
        sandbox.close()
        again = size(database)
    return {
        "tokens": tokens,
        "issue_s": round(issuing, 1),
        "starts_s": [round(s, 3) for s in starts],
        "start_median_s": round(statistics.median(starts), 3),
        "start_max_s": round(max(starts), 3),
        "collected": collected,
        "db_mb": round(stored / 1e6, 1),
        "db_after_collection_mb": round(after_collection / 1e6, 1),
        "db_after_as_many_again_mb": round(again / 1e6, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = measure(args.tokens, args.runs)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{result['tokens']:,} tokens issued and stored in {result['issue_s']} s: {result['db_mb']} MB")
    print(
        f"mockwise serve start-up with them stored: median {result['start_median_s']:.3f} s, "
        f"max {result['start_max_s']:.3f} s ({', '.join(map(str, result['starts_s']))})"
    )
    print(
        f"expired and collected: {result['collected']:,}, file {result['db_after_collection_mb']} MB; "
        f"as many again: {result['db_after_as_many_again_mb']} MB"
    )


if __name__ == "__main__":
    main()
