"""Memory: a tenant issues 1,000,000 tokens (one journal entry each, as over HTTP), they expire, the
tenant collects them; does its memory come back? A benchmark, not a test.

    python bench/memory.py [--tokens 1000000] [--mode rss|traced] [--kept] [--json]

Each mode runs in a fresh process (`run.py` starts one per mode):

- `rss`: the process's resident memory (VmRSS) after creating the tenant, at the peak, and after
  collection, with glibc's `malloc_trim` so freed memory is handed back rather than kept on the
  allocator's free lists; then once more after a second round of as many tokens (`again`), which
  tells memory that grows with history from what the allocator keeps once;
- `traced`: Python allocations only (`tracemalloc`, started before the tenant was made), which is
  the tenant's own footprint without the interpreter's: the strict reading of the goal. Slower.

With `--kept`, the tenant's state is kept in a `state.db` (a `SqliteStore` in a temporary
directory, as `mockwise serve` keeps it) and written every 32 tokens, as the group commit writes
under load: the tokens leave memory once written (`TokenStore._release`), and SQLite's page cache
(`cache_size`, 32 MB) fills as the database grows. That cache is bounded, not history: the second
round tells.

Tokens are issued through the domain (`TokenService.client_credentials`) with a journal entry per
token recorded as the edge records one, so the journal's bound is part of the measurement. The
starting point is a tenant in its steady state: its journal already full (10,000 entries by
default, a few MB, bounded by design) and the tokens behind them collected. The reading against
the fresh tenant (an empty journal) is reported too, as `after_over_fresh`.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import gc
import json
import os
import sys
import tempfile
import time
import tracemalloc
from typing import Any

from mockwise import Sandbox
from mockwise._domain.clock import micros_time
from mockwise._domain.entries import Entry
from mockwise._domain.settings import ACCESS_TOKEN_LIFETIME
from mockwise._store import SqliteStore

# What the edge files a token request's entry with (`mockwise._http.edge`): a fixed route's path
# is the route table's own string, and the names of the headers and form parameters a client sends
# are one tuple, shared by every entry with the same set; the instants and the trace id are the
# entry's own.
TOKEN_PATH = "/oauth/token"
HEADERS = ("host", "accept", "accept-encoding", "connection", "user-agent", "content-length",
           "content-type", "authorization")  # fmt: skip
PARAMS = ("grant_type",)
GROUP = 32  # tokens per commit with state kept (`--kept`): a group commit under load


def rss_bytes() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _trim() -> None:
    gc.collect()
    name = ctypes.util.find_library("c")
    if name is not None:
        libc = ctypes.CDLL(name)
        if hasattr(libc, "malloc_trim"):
            libc.malloc_trim(0)


def measure(tokens: int, mode: str, kept: bool = False) -> dict[str, Any]:
    if not kept:
        return _measure(tokens, mode, None)
    with tempfile.TemporaryDirectory(prefix="mockwise-bench-memory-") as tmp:
        store = SqliteStore(os.path.join(tmp, "state.db"))
        try:
            return _measure(tokens, mode, store)
        finally:
            store.close()


def _measure(tokens: int, mode: str, store: SqliteStore | None) -> dict[str, Any]:
    if mode == "traced":
        tracemalloc.start()

    def now() -> int:
        if store is not None:
            store.flush()
        _trim()
        return tracemalloc.get_traced_memory()[0] if mode == "traced" else rss_bytes()

    sandbox = Sandbox(store=store)
    tenant, creds = sandbox.create_tenant()
    client = tenant.client(creds.clients[0]["client_id"])
    journal = tenant.journal
    fresh = now()

    def issue(count: int) -> None:
        for n in range(count):
            if store is not None and n % GROUP == 0:
                store.flush()
            with tenant.lock:
                issued = tenant.tokens.client_credentials(client)
            wall = micros_time()
            entry = Entry(
                at=wall, wall=wall, method="POST", path=TOKEN_PATH, route=TOKEN_PATH, headers=HEADERS,
                params=PARAMS, status=200, basic_auth=True, trace_id=os.urandom(16).hex(),
            )  # fmt: skip
            entry.at = tenant.clock.now()
            entry.grant_type, entry.client_id, entry.issued = (
                "client_credentials",
                client.client_id,
                issued.access.id,
            )
            entry.done = micros_time()
            journal.record(entry)

    def expire_and_collect() -> int:
        if store is not None:
            store.flush()
        tenant.clock.advance(ACCESS_TOKEN_LIFETIME + tenant.settings.oauth.expired_token_memory + 1)
        return tenant.collect()

    # Steady state: a tenant that has served a while has a full journal (bounded by design).
    issue(journal.capacity)
    expire_and_collect()
    start = now()
    began = time.perf_counter()
    issue(tokens)
    issue_seconds = time.perf_counter() - began
    live = len(tenant.store)
    peak = now()
    began = time.perf_counter()
    collected = expire_and_collect()
    collect_seconds = time.perf_counter() - began
    after = now()
    # History again: memory that grows with history grows again; what the allocator keeps after the
    # first round (pools spread over more arenas than at the start) does not.
    issue(tokens)
    expire_and_collect()
    again = now()
    return {
        "mode": mode,
        "kept": store is not None,
        "tokens": tokens,
        "issue_seconds": round(issue_seconds, 2),
        "collect_seconds": round(collect_seconds, 2),
        "tokens_held_at_peak": live,
        "collected": collected,
        "journal_entries": len(journal),
        "journal_dropped": journal.dropped,
        "fresh_mb": round(fresh / 2**20, 2),
        "after_over_fresh": round(after / fresh, 3) if fresh else None,
        "start_mb": round(start / 2**20, 2),
        "peak_mb": round(peak / 2**20, 2),
        "after_mb": round(after / 2**20, 2),
        "after_over_start": round(after / start, 3) if start else None,
        "again_mb": round(again / 2**20, 2),
        "again_over_after": round(again / after, 3) if after else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=1_000_000)
    parser.add_argument("--mode", choices=["rss", "traced"], default="rss")
    parser.add_argument("--kept", action="store_true", help="keep the state in a state.db, as `serve` does")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = measure(args.tokens, args.mode, args.kept)
    if args.json:
        print(json.dumps(result))
        return
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
