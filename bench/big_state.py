"""Big state never stalls the sandbox (issue 15, item 4). A benchmark, not a test.

    python bench/big_state.py                    # 100,000 live tokens, 10,000 tenants, ~2 minutes
    python bench/big_state.py --quick            # 20,000 tokens, 2,000 tenants
    python bench/big_state.py --json out.json
    python bench/big_state.py --code /path/to/another/checkout   # the same run against other code

Method
- A server process (`--serve`, this file) builds the state through the Python API before it
  listens: the tenant `big` holds --tokens live client-credentials tokens, a refreshed user link
  and a full journal (10,000 entries); --tenants - 1 more seeded tenants exist beside it. It then
  serves on plain HTTP (`mockwise._transport.sockets.Runner`: uvicorn, one event loop, as `mockwise serve`).
- Alone: each control-plane listing and dashboard page is fetched --repeat times, one at a time;
  its median and worst time and its size are reported. Goal: every one under 200 ms.
- Together: for --seconds, one client calls `GET /v1/me` (a personal token of `big`) in a loop
  while two others fetch the listings and pages round-robin; the `/v1/me` latencies' p50/p99/max
  are reported. Goal: p99 under 50 ms.
- Memory: in a fresh process, 10,000 tenants are created and deleted; the process's resident
  memory (after `gc` and glibc's `malloc_trim`) at the start, the peak and the end, and Python's own
  allocations (`tracemalloc`) at the end; once with CPython's allocator and once with
  `PYTHONMALLOC=malloc`. Goal: the deleted tenants' memory is returned.

Server and clients share the machine's two cores: the figures are for comparing runs (see `--code`),
not absolute.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
C = "/_mockwise"


# The server ------------------------------------------------------------------------------------


def serve(tokens: int, tenants: int) -> None:
    from mockwise._domain.entries import Entry
    from mockwise._domain.sandbox import Sandbox
    from mockwise._http.app import create_app
    from mockwise._transport.sockets import Listener, Runner

    began = time.perf_counter()
    sandbox = Sandbox()
    tenant, creds = sandbox.create_tenant("big")
    client = tenant.client(creds.clients[0]["client_id"])
    for _ in range(tokens):
        tenant.tokens.client_credentials(client)
    user = creds.users[2]
    params = {"email": user["email"], "registration_code": user["registration_code"]}
    with tenant.lock:
        issued = tenant.tokens.grant(client, "registration_code", params)
    tenant.tokens.grant(client, "refresh_token", {"refresh_token": issued.refresh_value or ""})
    for n in range(tenant.journal.capacity):
        entry = Entry(method="GET", path="/v1/me", route="/v1/me", status=200, trace_id=f"{n:032x}")
        if hasattr(entry, "headers"):  # older checkouts (--code) kept no header names
            entry.headers = ("host", "authorization", "accept")
        tenant.journal.record(entry)
    for n in range(tenants - 1):
        sandbox.create_tenant(f"t{n:05d}")  # ids given: random 8-hex ids can collide among 10,000
    gc.collect()
    gc.freeze()  # the built state is long-lived: keep the collector from walking it on every request
    listener = Listener("api")
    runner = Runner(create_app(sandbox), [listener])
    ready = {
        "url": listener.url,
        "personal_token": creds.personal_tokens[0]["token"],
        "built_seconds": round(time.perf_counter() - began, 1),
    }
    runner.run(on_ready=lambda: print(json.dumps(ready), flush=True))


# The client ------------------------------------------------------------------------------------


def pages(seq: int, token_id: str) -> list[str]:
    big = f"{C}/tenants/big"
    return [
        f"{C}/",
        f"{C}/tenants",
        big,
        f"{big}/tokens",
        f"{big}/tokens?state=valid&offset=50000",
        f"{big}/journal",
        f"{big}/journal?since=0",
        f"{big}/dashboard",
        f"{big}/dashboard/tokens",
        f"{big}/dashboard/journal",
        f"{big}/dashboard/journal/{seq}",
        f"{big}/dashboard/tokens/{token_id}",
        f"{big}/dashboard/settings",
    ]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def alone(http: Any, paths: list[str], repeat: int) -> list[dict[str, Any]]:
    rows = []
    for path in paths:
        times, size, status = [], 0, 0
        for _ in range(repeat):
            began = time.perf_counter()
            response = http.get(path)
            times.append((time.perf_counter() - began) * 1000)
            size, status = len(response.content), response.status_code
        rows.append(
            {
                "path": path,
                "status": status,
                "bytes": size,
                "median_ms": round(statistics.median(times), 1),
                "max_ms": round(max(times), 1),
            }
        )
    return rows


def together(url: str, token: str, paths: list[str], seconds: float) -> dict[str, Any]:
    import httpx

    stop = time.monotonic() + seconds
    me: list[float] = []
    page_times: list[float] = []
    errors: list[str] = []

    def call_me() -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as http:
            while time.monotonic() < stop:
                began = time.perf_counter()
                status = http.get("/v1/me").status_code
                me.append((time.perf_counter() - began) * 1000)
                if status != 200:
                    errors.append(f"/v1/me {status}")

    def call_pages(offset: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as http:
            n = offset
            while time.monotonic() < stop:
                began = time.perf_counter()
                http.get(paths[n % len(paths)])
                page_times.append((time.perf_counter() - began) * 1000)
                n += 1

    threads = [threading.Thread(target=call_me)]
    threads += [threading.Thread(target=call_pages, args=(i * 5,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {
        "me_requests": len(me),
        "me_p50_ms": round(percentile(me, 0.5), 1),
        "me_p99_ms": round(percentile(me, 0.99), 1),
        "me_max_ms": round(max(me), 1),
        "pages_fetched": len(page_times),
        "pages_p50_ms": round(percentile(page_times, 0.5), 1),
        "pages_max_ms": round(max(page_times), 1),
        "errors": sorted(set(errors)),
    }


def memory(tenants: int) -> dict[str, Any]:
    """In this process: create and delete `tenants` tenants; resident and traced memory."""
    import tracemalloc

    sys.path.insert(0, str(HERE))
    from memory import _trim, rss_bytes

    from mockwise._domain.sandbox import Sandbox

    sandbox = Sandbox()
    sandbox.create_tenant("warm")
    _trim()
    tracemalloc.start()
    start, traced_start = rss_bytes(), tracemalloc.get_traced_memory()[0]
    for n in range(tenants):
        sandbox.create_tenant(f"m{n:05d}")
    _trim()
    peak = rss_bytes()
    for n in range(tenants):
        sandbox.delete_tenant(f"m{n:05d}")
    _trim()
    after, traced_after = rss_bytes(), tracemalloc.get_traced_memory()[0]
    mb = 2**20
    return {
        "allocator": os.environ.get("PYTHONMALLOC", "pymalloc"),
        "start_mb": round(start / mb, 1),
        "peak_mb": round(peak / mb, 1),
        "after_mb": round(after / mb, 1),
        "returned": round((peak - after) / (peak - start), 3) if peak > start else None,
        "python_kept_mb": round((traced_after - traced_start) / mb, 2),
    }


def in_own_process(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, *args], env=env, capture_output=True, text=True, check=True
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=100_000)
    parser.add_argument("--tenants", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=15.0, help="of /v1/me under page load")
    parser.add_argument("--repeat", type=int, default=7, help="fetches of each page alone")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--code", type=Path, default=ROOT, help="the checkout to benchmark")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--memory", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.tokens, args.tenants, args.seconds, args.repeat = 20_000, 2_000, 5.0, 3
    if args.serve:
        serve(args.tokens, args.tenants)
        return
    if args.memory:
        print(json.dumps(memory(args.tenants)))
        return

    import httpx

    env = {**os.environ, "PYTHONPATH": str(args.code.resolve())}
    print(f"code: {args.code.resolve()}; load average {os.getloadavg()[0]:.2f}", file=sys.stderr)
    print(f"building {args.tokens:,} tokens and {args.tenants:,} tenants...", file=sys.stderr)
    command = [sys.executable, __file__, "--serve", "--tokens", str(args.tokens)]
    server = subprocess.Popen(
        [*command, "--tenants", str(args.tenants)], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        ready = json.loads(server.stdout.readline())
        url = ready["url"]
        with httpx.Client(base_url=url, timeout=120) as http:
            listing = http.get(f"{C}/tenants/big/tokens", params={"limit": 1}).json()
            token_id = listing["tokens"][0]["id"]
            journal = http.get(f"{C}/tenants/big/journal").json()  # older checkouts take no `limit`
            seq = journal["entries"][0]["seq"] if journal.get("entries") else 1
            paths = pages(seq, token_id)
            http.get(f"{C}/docs")  # the OpenAPI document is built once, on first use
            single = alone(http, paths, args.repeat)
        load = together(url, ready["personal_token"], paths, args.seconds)
    finally:
        server.terminate()
        server.wait(30)
    memory_args = ["--memory", "--tenants", str(args.tenants)]
    mem = [
        in_own_process(memory_args, env),
        in_own_process(memory_args, {**env, "PYTHONMALLOC": "malloc"}),
    ]
    result = {
        "tokens": args.tokens,
        "tenants": args.tenants,
        "built_seconds": ready["built_seconds"],
        "alone": single,
        "together": load,
        "memory": mem,
    }
    for row in single:
        flag = "" if row["max_ms"] < 200 and row["status"] == 200 else "  <-- over 200 ms or not 200"
        print(
            f"{row['median_ms']:8.1f} ms median {row['max_ms']:8.1f} ms max {row['bytes']:>10,} B "
            f"{row['status']} {row['path']}{flag}"
        )
    print(
        f"/v1/me under page load: {load['me_requests']} calls, p50 {load['me_p50_ms']} ms, "
        f"p99 {load['me_p99_ms']} ms, max {load['me_max_ms']} ms ({load['pages_fetched']} pages "
        f"fetched meanwhile, p50 {load['pages_p50_ms']} ms, max {load['pages_max_ms']} ms)"
    )
    for m in mem:
        print(
            f"memory, {args.tenants:,} tenants created and deleted ({m['allocator']}): start "
            f"{m['start_mb']} MB, peak {m['peak_mb']} MB, after {m['after_mb']} MB "
            f"({m['returned']:.0%} returned); Python objects kept {m['python_kept_mb']} MB"
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
