"""mockwise's benchmark: one command, one table, each speed goal as a ratio measured in this run.

    python bench/run.py                 # about 3 minutes on a 2-core machine
    python bench/run.py --quick         # shorter runs, for a look
    python bench/run.py --json out.json # the numbers, for CI dashboards or a closing note

Needs `wrk` (apt-get install wrk) and, for the mTLS rows, a C compiler (apt-get install gcc): wrk
cannot present a client certificate, so a small LD_PRELOAD shim loads one into its TLS contexts.

Method
- Servers: the bare-Starlette baseline (`baseline.py`: parse the form, return a UUID token) and
  `mockwise serve` three times (`--http` keeping its state in `state.db`, as it does by default;
  `--http --in-memory`; and the default HTTPS + mTLS, keeping its state), each in its own process,
  all served by `mockwise._transport.sockets.Runner` (uvicorn, httptools, uvloop, one event loop, one
  process).
  The default tenant's Wise rate limits (100/s per client) are switched off over the control plane.
- Load: `wrk`, keep-alive, 1 thread and 32 connections (--connections), for --seconds a run after
  a --warmup run on fresh connections; every answer must be a 2xx (else the row is marked).
- Cores: the machine has two, shared by the server and the load generator. Unless --no-pin, every
  server process is pinned to CPU 0 and wrk to CPU 1, so the server has a core to itself and the
  load generator cannot steal it (an unpinned run measures the scheduler as much as the server).
- Rounds: the scenarios run in turn, --rounds times; each figure is the median of its rounds, and
  each ratio is the median of the ratios within a round (figures measured minutes apart), never
  absolute times across runs or machines. The ratios of each round are printed beside it.
- Handshakes: `openssl s_time` (a C client) opens new connections to the mTLS host, full
  handshakes and resumed sessions, TLS 1.3 and 1.2.
- Where the CPU goes (`split.py`, needs py-spy): a `mockwise serve --http` kept busy while py-spy
  samples its event loop, each sample put in one part (store, GC, render, parse, transport, app),
  for a token request and for `GET /v1/me`; shares of the loop's busy time, so a regression shows
  where it came from. Skipped, with a note, without py-spy.
- In process (`inprocess.py`), start-up (`startup.py`), memory (`memory.py`: the process's RSS
  with the state kept, as `mockwise serve` runs by default, and in memory; Python's own allocations
  in memory) and the state
  database (`state.py`: start-up with --stored-tokens tokens stored, and the file's size as they
  expire and come again) run in their own processes after the load tests, when nothing else of the
  benchmark is running.

Caveats: anything else running on the machine shares the two cores (look at the load average
printed at the top); Python's timings move by a few percent between runs; wrk with one thread
and 32 connections is far from its own limit (see the baseline row: it drives a faster server).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadgen import WRK_MISSING, ClientCert, Request, Result, Wrk, wrk_path
from servers import Baseline, Mockwise
from split import format_split, py_spy

HERE = Path(__file__).resolve().parent
FORM = "application/x-www-form-urlencoded"

GOALS: list[tuple[str, str, str, str, float | None]] = [
    # (key, label, numerator, denominator, at least: None for a figure without a goal); the
    # project's goals as issue 27 states them
    (
        "token_vs_baseline",
        "token endpoint (plain HTTP, state kept) vs baseline",
        "token_http",
        "baseline",
        0.6,
    ),
    ("mtls_vs_http", "token endpoint over mTLS vs plain HTTP", "token_mtls", "token_http", 0.8),
    ("me_vs_baseline", "GET /v1/me (bearer) vs baseline", "me_http", "baseline", 0.9),
    ("me_kept_vs_memory", "GET /v1/me, state kept vs in memory", "me_http", "me_memory", 0.9),
    ("token_kept_vs_memory", "token endpoint, state kept vs in memory", "token_http", "token_memory", None),
]


@dataclass
class Scenario:
    key: str
    label: str
    url: str
    request: Request
    cert: ClientCert | None = None


def scenarios(baseline: Baseline, http: Mockwise, memory: Mockwise, tls: Mockwise | None) -> list[Scenario]:
    token = Request("POST", "/oauth/token", {"Content-Type": FORM}, "grant_type=client_credentials")
    partner = Request(token.method, token.path, {**token.headers, "Authorization": http.basic}, token.body)
    rows = [
        Scenario("baseline", "baseline: bare Starlette POST /oauth/token", baseline.url, token),
        Scenario("token_http", "mockwise POST /oauth/token (client_credentials)", http.api_url, partner),
        Scenario("token_memory", "  the same, --in-memory", memory.api_url, partner),
        Scenario(
            "me_http",
            "mockwise GET /v1/me (user token)",
            http.api_url,
            Request("GET", "/v1/me", {"Authorization": f"Bearer {http.user_token()}"}),
        ),
        Scenario(
            "me_memory",
            "  the same, --in-memory",
            memory.api_url,
            Request("GET", "/v1/me", {"Authorization": f"Bearer {memory.user_token()}"}),
        ),
    ]
    if tls is not None and tls.cert is not None:
        cert = ClientCert(*tls.cert)
        mtls = Request(token.method, token.path, {**token.headers, "Authorization": tls.basic}, token.body)
        me = Request("GET", "/v1/me", {"Authorization": f"Bearer {tls.user_token()}"})
        rows.append(Scenario("token_mtls", "mockwise POST /oauth/token over mTLS", tls.token_url, mtls, cert))
        rows.append(Scenario("me_mtls", "mockwise GET /v1/me over mTLS", tls.token_url, me, cert))
    return rows


def load_tests(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    server_cpu, client_cpu = (None, None) if args.no_pin else (0, 1)
    wrk = Wrk(workdir, threads=args.threads, connections=args.connections, cpu=client_cpu)
    mtls = wrk.shim() is not None
    if not mtls:
        print("note: no C compiler (apt-get install gcc): the mTLS rows are skipped", file=sys.stderr)
    baseline = Baseline(cpu=server_cpu)
    http = Mockwise(workdir / "http", http=True, cpu=server_cpu)
    memory = Mockwise(workdir / "memory", http=True, cpu=server_cpu, extra=("--in-memory",))
    tls = Mockwise(workdir / "tls", http=False, cpu=server_cpu) if mtls else None
    try:
        for server in (http, memory, tls):
            if server is not None:
                server.without_rate_limits()
        rows = scenarios(baseline, http, memory, tls)
        runs: dict[str, list[Result]] = {row.key: [] for row in rows}
        for round_ in range(args.rounds):
            for row in rows:
                if args.warmup > 0:
                    wrk.run(row.url, row.request, args.warmup, row.cert)
                result = wrk.run(row.url, row.request, args.seconds, row.cert)
                runs[row.key].append(result)
                _progress(f"round {round_ + 1}/{args.rounds} {row.key}: {result.per_second:,.0f} req/s")
        handshakes = s_time(tls, args.handshake_seconds, client_cpu) if tls is not None else []
    finally:
        for server in (baseline, http, memory, tls):
            if server is not None:
                server.stop()
    table = {row.key: _summary(row, runs[row.key]) for row in rows}
    return {"rows": table, "handshakes": handshakes}


def _summary(row: Scenario, results: list[Result]) -> dict[str, Any]:
    ordered = sorted(results, key=lambda r: r.per_second)
    middle = ordered[len(ordered) // 2]
    return {
        "label": row.label,
        "per_second": round(statistics.median(r.per_second for r in results)),
        "rounds": [round(r.per_second) for r in results],
        "p50_ms": middle.p50_ms,
        "p90_ms": middle.p90_ms,
        "p99_ms": middle.p99_ms,
        "p999_ms": middle.p999_ms,
        "clean": all(r.clean for r in results),
        "non_2xx": sum(r.non_2xx for r in results),
        "socket_errors": sum(r.socket_errors for r in results),
    }


def s_time(server: Mockwise, seconds: float, cpu: int | None) -> list[dict[str, Any]]:
    """Connections per second to the mTLS host with `openssl s_time`: full handshakes (-new) and
    resumed sessions (-reuse), each connection fetching `/` (a 404: the handshake is the cost)."""
    if shutil.which("openssl") is None or server.cert is None:
        return []
    target = server.token_url.removeprefix("https://")
    common = ["openssl", "s_time", "-connect", target, "-www", "/", "-time", str(int(seconds))]
    common += ["-CAfile", str(server.doc["ca_cert"]), "-cert", server.cert[0], "-key", server.cert[1]]
    rows = []
    for version in ("-tls1_3", "-tls1_2"):
        row: dict[str, Any] = {"tls": version.removeprefix("-").replace("_", ".").upper()}
        for mode in ("-new", "-reuse"):
            began = time.perf_counter()
            done = subprocess.run(
                [*common, version, mode],
                capture_output=True,
                text=True,
                preexec_fn=(lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None,
            )
            elapsed = time.perf_counter() - began
            counts = [int(n) for n in re.findall(r"^(\d+) connections in", done.stdout, flags=re.M)]
            row["full" if mode == "-new" else "resumed"] = round(counts[-1] / elapsed) if counts else None
        rows.append(row)
        _progress(f"handshakes {row['tls']}: {row['full']}/s full, {row['resumed']}/s resumed")
    return rows


def in_own_process(script: str, *options: str) -> Any:
    """Run a bench script in a fresh interpreter and read its JSON (memory and timings start clean)."""
    done = subprocess.run(
        [sys.executable, str(HERE / script), *options, "--json"], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{script} failed:\n{done.stderr}")
    return json.loads(done.stdout)


def ratios(rows: dict[str, Any]) -> list[dict[str, Any]]:
    """Each goal's ratio: the median of the ratios within a round (both figures measured minutes
    apart at most), not the ratio of medians taken from different rounds. A shared machine's
    speed drifts between rounds (the baseline alone moved from 5,800 to 8,500 req/s in one run),
    and a ratio of two figures from different rounds measures the drift."""
    out = []
    for key, label, top, bottom, goal in GOALS:
        if top not in rows or bottom not in rows:
            continue
        rounds = [a / b for a, b in zip(rows[top]["rounds"], rows[bottom]["rounds"], strict=True) if b]
        if not rounds:
            continue
        value = statistics.median(rounds)
        met = goal is None or value >= goal
        out.append(
            {
                "goal": key,
                "label": label,
                "ratio": round(value, 3),
                "rounds": [round(r, 3) for r in rounds],
                "at_least": goal,
                "met": met,
            }
        )
    return out


def print_report(result: dict[str, Any], args: argparse.Namespace) -> None:
    print()
    print(f"mockwise benchmark — {result['machine']}")
    pin = "servers on CPU 0, wrk on CPU 1" if not args.no_pin else "not pinned"
    print(
        f"wrk: {args.threads} thread(s), {args.connections} connections, keep-alive, "
        f"{args.seconds:g} s runs after {args.warmup:g} s warm-up, median of {args.rounds} rounds; {pin}"
    )
    print()
    load = result.get("load")
    if load is not None:
        print(f"{'scenario':52} {'req/s':>8} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'p99.9':>7}")
        for row in load["rows"].values():
            mark = (
                ""
                if row["clean"]
                else f"  NOT CLEAN: {row['non_2xx']} non-2xx, {row['socket_errors']} errors"
            )
            print(
                f"{row['label']:52} {row['per_second']:>8,} {row['p50_ms']:>7.2f} {row['p90_ms']:>7.2f} "
                f"{row['p99_ms']:>7.2f} {row['p999_ms']:>7.2f}{mark}"
            )
        print()
        print(f"{'goal':52} {'ratio':>8} {'target':>7}  {'':7}  rounds")
        for goal in result["ratios"]:
            each = " ".join(f"{r:.2f}" for r in goal["rounds"])
            if goal["at_least"] is None:
                print(f"{goal['label']:52} {goal['ratio']:>8.2f} {'':>7}  {'':7}  {each}")
                continue
            verdict = "met" if goal["met"] else "NOT MET"
            target = ">= " + str(goal["at_least"])
            print(f"{goal['label']:52} {goal['ratio']:>8.2f} {target:>7}  {verdict:7}  {each}")
        if load["handshakes"]:
            print()
            print("mTLS handshakes per second (openssl s_time, new connections, one client):")
            for row in load["handshakes"]:
                print(f"  {row['tls']}: {row['full']:,} full   {row['resumed']:,} resumed")
    split = result.get("split")
    if split is not None:
        print()
        print(format_split(split))
    inproc = result.get("inprocess")
    if inproc is not None:
        print()
        print(f"in-process, per request (µs)          {'POST /oauth/token':>18} {'GET /v1/me':>11}")
        for name, label in (
            ("sync_transport", "httpx.Client + SyncASGITransport"),
            ("async_transport", "httpx.AsyncClient + ASGITransport"),
            ("app_only", "the ASGI app alone (no httpx)"),
        ):
            print(f"  {label:36} {inproc[name]['token_us']:>18} {inproc[name]['me_us']:>11}")
        c = inproc.get("contracts")
        if c is not None:
            print(
                f"contract suites, reference client: {c['steps_per_second']} steps/s "
                f"({c['steps']} steps in {c['stories']} stories, {c['seconds']} s)"
            )
    state = result.get("state")
    if state is not None:
        met = "met" if state["start_max_s"] < 2 else "NOT MET"
        print()
        print(
            f"start-up, `mockwise serve` with {state['tokens']:,} tokens in state.db: median "
            f"{state['start_median_s']:.3f} s, max {state['start_max_s']:.3f} s (goal < 2 s: {met}); "
            f"state.db {state['db_mb']} MB, after they expired and were collected "
            f"{state['db_after_collection_mb']} MB, with as many again "
            f"{state['db_after_as_many_again_mb']} MB"
        )
    startup = result.get("startup")
    if startup is not None:
        met = "met" if startup["max_s"] < 1 else "NOT MET"
        print()
        print(
            f"start-up, `mockwise serve` until sandbox.json is written, certificates in the state directory: "
            f"median {startup['median_s']:.3f} s, max {startup['max_s']:.3f} s (goal < 1 s: {met}); "
            f"first start making them {startup['first_start_s']:.3f} s; --http {startup['http_s']:.3f} s"
        )
    memory = result.get("memory")
    if memory is not None:
        print()
        for m in memory:
            what = "process RSS" if m["mode"] == "rss" else "Python allocations (tracemalloc)"
            what += ", state kept (as `serve` runs)" if m.get("kept") else ", in memory"
            verdict = ""
            if m["mode"] == "rss":
                verdict = f" (goal <= 1.2: {'met' if m['after_over_start'] <= 1.2 else 'NOT MET'})"
            print(
                f"memory, {m['tokens']:,} tokens, {what}: start {m['start_mb']} MB, peak {m['peak_mb']} MB, "
                f"after collection {m['after_mb']} MB = {m['after_over_start']}x start{verdict}; "
                f"journal {m['journal_entries']:,} entries held, {m['journal_dropped']:,} dropped; "
                f"after as many again {m['again_mb']} MB = {m['again_over_after']}x the first collection's"
            )


def _progress(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5, help="length of each measured wrk run")
    parser.add_argument(
        "--warmup", type=int, default=1, help="warm-up run before each measured run (0: none)"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--handshake-seconds", type=float, default=3)
    parser.add_argument("--tokens", type=int, default=1_000_000, help="tokens for the memory measurement")
    parser.add_argument(
        "--stored-tokens", type=int, default=1_000_000, help="tokens in state.db for the start-up measurement"
    )
    parser.add_argument(
        "--traced-tokens", type=int, default=100_000, help="tokens for the tracemalloc reading"
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin servers and wrk to CPUs")
    parser.add_argument("--quick", action="store_true", help="1 round of 2 s runs, 200k tokens")
    parser.add_argument(
        "--only", nargs="*", choices=["load", "split", "inprocess", "startup", "memory", "state"]
    )
    parser.add_argument("--split-seconds", type=int, default=5, help="py-spy's sampling per scenario")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.rounds, args.warmup, args.handshake_seconds, args.split_seconds = 2, 1, 1, 1, 2
        args.tokens, args.traced_tokens, args.stored_tokens = 200_000, 20_000, 100_000
    if wrk_path() is None and (args.only is None or "load" in args.only):
        print(WRK_MISSING, file=sys.stderr)
        return 2
    if not args.no_pin and len(os.sched_getaffinity(0)) < 2:
        args.no_pin = True
    only = set(args.only or ["load", "split", "inprocess", "startup", "memory", "state"])
    load_average = os.getloadavg()[0]
    result: dict[str, Any] = {
        "machine": f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, load average {load_average:.2f}",
        "settings": {k: v for k, v in vars(args).items() if k != "json"},
    }
    with tempfile.TemporaryDirectory(prefix="mockwise-bench-") as tmp:
        if "load" in only:
            result["load"] = load_tests(args, Path(tmp))
            result["ratios"] = ratios(result["load"]["rows"])
    if "split" in only:
        if py_spy() is None:
            print("note: no py-spy (pip install py-spy): the CPU split is skipped", file=sys.stderr)
        else:
            _progress("where the CPU goes (py-spy)...")
            result["split"] = in_own_process("split.py", "--seconds", str(args.split_seconds))
    if "inprocess" in only:
        _progress("in-process costs and contract suites...")
        result["inprocess"] = in_own_process("inprocess.py")
    if "startup" in only:
        _progress("start-up...")
        result["startup"] = in_own_process("startup.py")
    if "memory" in only:
        _progress(f"memory: {args.tokens:,} tokens (RSS), {args.traced_tokens:,} (tracemalloc)...")
        result["memory"] = [
            in_own_process("memory.py", "--mode", "rss", "--tokens", str(args.tokens), "--kept"),
            in_own_process("memory.py", "--mode", "rss", "--tokens", str(args.tokens)),
            in_own_process("memory.py", "--mode", "traced", "--tokens", str(args.traced_tokens)),
        ]
    if "state" in only:
        _progress(f"state.db: {args.stored_tokens:,} tokens stored, start-up, collection...")
        result["state"] = in_own_process("state.py", "--tokens", str(args.stored_tokens))
    print_report(result, args)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
