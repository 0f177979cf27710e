"""What one request costs the server in CPU, measured two ways that a busy machine does not swing
the way it swings requests per second. A benchmark, not a test.

    python bench/cpu.py [--requests 3000] [--connections 32] [--callgrind] [--json]

A fixed number of requests (`--requests`, after `--warmup` more) is sent over `--connections`
keep-alive connections by a small client in this process (each connection sends its next request
once it has its answer, as wrk does), to `mockwise serve --http` (state kept, as by default, and
`--in-memory`) and to the bare-Starlette baseline (`baseline.py`). For each server and scenario:

- CPU: the server process's user + system time (`/proc/PID/stat`) over the measured requests,
  divided by their number, in µs. Kernel time is in it (socket writes, the peer's wake-up), and so
  is whatever the machine's load does to caches and clock speed: less stable than instructions,
  far more than requests per second. The median of `--rounds`.
- instructions (`--callgrind`): the server runs under `valgrind --tool=callgrind` with collection
  switched on only for the measured requests (`callgrind_control`); the event loop's thread's
  instructions divided by the number of requests. User space only (a syscall's kernel work is not
  counted), and the same from run to run within a fraction of a percent: the figure to compare
  two versions of the code with. Needs valgrind (apt-get install valgrind); about fifty times
  slower, so use a few thousand requests.

Ratios against the baseline are given both ways; they are costs, so the goals of `run.py`
(throughput at least 0.6 of the baseline's) read as cost at most baseline / 0.6.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadgen import Request, Wrk, wrk_path
from servers import Baseline, Mockwise, Process

FORM = "application/x-www-form-urlencoded"
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Target:
    url: str
    host: str
    port: int
    request: bytes
    parts: Request

    def wrk(self) -> tuple[str, Request]:
        return self.url, self.parts


def target(url: str, method: str, path: str, headers: dict[str, str], body: str = "") -> Target:
    hostport = url.split("://", 1)[1]
    host, port = hostport.rsplit(":", 1)
    lines = [f"{method} {path} HTTP/1.1", f"Host: {hostport}", *(f"{k}: {v}" for k, v in headers.items())]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body.encode())}")
    raw = ("\r\n".join(lines) + "\r\n\r\n" + body).encode()
    return Target(url, host, int(port), raw, Request(method, path, headers, body))


async def _connection(t: Target, count: list[int], failures: list[int]) -> None:
    reader, writer = await asyncio.open_connection(t.host, t.port)
    try:
        while count[0] > 0:
            count[0] -= 1
            writer.write(t.request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if length:
                await reader.readexactly(length)
            if not 200 <= status < 300:
                failures.append(status)
    finally:
        writer.close()


def drive(t: Target, requests: int, connections: int) -> list[int]:
    """Send `requests` requests over `connections` connections; the statuses that were not 2xx."""

    async def run() -> list[int]:
        count, failures = [requests], []  # type: ignore[var-annotated]
        await asyncio.gather(*(_connection(t, count, failures) for _ in range(connections)))
        return failures

    return asyncio.run(run())


def cpu_seconds(pid: int) -> tuple[float, float]:
    """User and system time of every thread of process `pid`."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICKS, int(fields[12]) / TICKS


def io_calls(pid: int) -> int:
    """Read and write system calls the process made (`/proc/PID/io`: syscr + syscw)."""
    with open(f"/proc/{pid}/io", encoding="ascii") as io:
        counts = dict(line.split(": ") for line in io.read().splitlines())
    return int(counts["syscr"]) + int(counts["syscw"])


class Callgrind:
    """A server under callgrind, collecting only while `collect` is on."""

    def __init__(self, workdir: Path, name: str) -> None:
        self.out = workdir / f"callgrind.{name}"
        self.prefix = (
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            "--separate-threads=yes",
            f"--callgrind-out-file={self.out}.%p",
        )

    def control(self, pid: int, *options: str) -> None:
        subprocess.run(["callgrind_control", *options, str(pid)], check=True, capture_output=True)

    def instructions(self, pid: int) -> int:
        """Instructions of the process's first thread (the event loop's) in its last dump."""
        dumps = sorted(self.out.parent.glob(f"{self.out.name}.{pid}*-01"))
        if not dumps:
            raise RuntimeError(f"no callgrind dump for {pid}")
        newest = max(dumps, key=lambda p: p.stat().st_mtime)
        for line in newest.read_text(encoding="latin-1").splitlines():
            if line.startswith("totals:"):
                return int(line.split()[1])
        raise RuntimeError(f"no totals in {newest}")


def measure(
    server: Process, t: Target, args: argparse.Namespace, grind: Callgrind | None, wrk: Wrk | None
) -> dict[str, Any]:
    pid = server.process.pid
    failures = drive(t, args.warmup, args.connections)
    if grind is not None:
        grind.control(pid, "--zero")
        grind.control(pid, "--instr=on")
    began_cpu, began, calls = cpu_seconds(pid), time.perf_counter(), io_calls(pid)
    if wrk is not None:  # the server saturated, as in run.py; wrk counts the requests
        url, request = t.wrk()
        result = wrk.run(url, request, args.seconds)
        requests, failures = result.requests, failures + [0] * (result.non_2xx + result.socket_errors)
    else:
        requests = args.requests
        failures += drive(t, requests, args.connections)
    (user, system), wall = cpu_seconds(pid), time.perf_counter() - began
    user, system = user - began_cpu[0], system - began_cpu[1]
    out: dict[str, Any] = {
        "cpu_us": round((user + system) / requests * 1e6, 1),
        "system_us": round(system / requests * 1e6, 1),
        "io_calls": round((io_calls(pid) - calls) / requests, 2),
        "per_second": round(requests / wall),
        "not_2xx": len(failures),
    }
    if grind is not None:
        grind.control(pid, "--instr=off")
        grind.control(pid, "--dump")
        time.sleep(0.5)
        out["instructions"] = round(grind.instructions(pid) / requests)
    return out


def scenarios(baseline: Baseline, http: Mockwise, memory: Mockwise) -> dict[str, tuple[Process, Target]]:
    def token(server: Mockwise) -> Target:
        return target(
            server.api_url,
            "POST",
            "/oauth/token",
            {"Content-Type": FORM, "Authorization": server.basic},
            "grant_type=client_credentials",
        )

    def me(server: Mockwise) -> Target:
        return target(server.api_url, "GET", "/v1/me", {"Authorization": f"Bearer {server.user_token()}"})

    return {
        "baseline": (
            baseline,
            target(
                baseline.url, "POST", "/oauth/token", {"Content-Type": FORM}, "grant_type=client_credentials"
            ),
        ),
        "token_http": (http, token(http)),
        "token_memory": (memory, token(memory)),
        "me_http": (http, me(http)),
        "me_memory": (memory, me(memory)),
    }


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    grind = Callgrind(workdir, "server") if args.callgrind else None
    wrk = None
    if grind is None and wrk_path() is not None:
        wrk = Wrk(workdir, connections=args.connections, cpu=args.client_cpu)
    prefix = grind.prefix if grind is not None else ()
    timeout = 300.0 if grind is not None else 30.0
    baseline = Baseline(cpu=args.cpu, prefix=prefix)
    http = Mockwise(workdir / "http", http=True, cpu=args.cpu, prefix=prefix, timeout=timeout)
    memory = Mockwise(
        workdir / "memory", http=True, cpu=args.cpu, extra=("--in-memory",), prefix=prefix, timeout=timeout
    )
    try:
        for server in (http, memory):
            server.without_rate_limits()
        rows = scenarios(baseline, http, memory)
        if args.only:
            rows = {k: v for k, v in rows.items() if k in args.only}
        rounds: dict[str, list[dict[str, Any]]] = {key: [] for key in rows}
        for _ in range(args.rounds):
            for key, (server, t) in rows.items():
                rounds[key].append(measure(server, t, args, grind, wrk))
                print(f"  {key}: {rounds[key][-1]}", file=sys.stderr, flush=True)
    finally:
        for server in (baseline, http, memory):
            server.stop()
    table = {}
    for key, results in rounds.items():
        row: dict[str, Any] = {
            "cpu_us": statistics.median(r["cpu_us"] for r in results),
            "cpu_us_rounds": [r["cpu_us"] for r in results],
            "system_us": statistics.median(r["system_us"] for r in results),
            "not_2xx": sum(r["not_2xx"] for r in results),
            "io_calls": statistics.median(r["io_calls"] for r in results),
        }
        if grind is not None:
            row["instructions"] = statistics.median(r["instructions"] for r in results)
        table[key] = row
    return table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5, help="length of a wrk run (without --callgrind)")
    parser.add_argument("--cpu", type=int, default=None, help="pin the servers to this CPU")
    parser.add_argument("--client-cpu", type=int, default=None, help="pin wrk to this CPU")
    parser.add_argument("--callgrind", action="store_true", help="count instructions (valgrind)")
    parser.add_argument("--only", nargs="*", help="scenarios to run (baseline, token_http, ...)")
    parser.add_argument(
        "--code", metavar="DIR", help="serve the mockwise in DIR (A/B: git archive main | tar -x -C DIR)"
    )
    parser.add_argument(
        "--keep", metavar="DIR", help="copy the callgrind dumps here (read with callgrind_annotate)"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.code:
        os.environ["PYTHONPATH"] = str(Path(args.code).resolve())  # the servers import mockwise from there
    if args.callgrind and shutil.which("valgrind") is None:
        print("bench: --callgrind needs valgrind (apt-get install valgrind)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="mockwise-bench-cpu-") as tmp:
        table = run(args, Path(tmp))
        if args.keep:
            Path(args.keep).mkdir(parents=True, exist_ok=True)
            for dump in Path(tmp).glob("callgrind.*"):
                shutil.copy(dump, args.keep)
    if args.json:
        print(json.dumps(table, indent=2))
        return 0
    base = table.get("baseline")
    print(
        f"{'scenario':16} {'CPU µs':>8} {'vs base':>8} {'system':>7} {'instr/req':>11} {'vs base':>8} "
        f"{'r/w calls':>10}"
    )
    for key, row in table.items():
        ratio = f"{row['cpu_us'] / base['cpu_us']:.2f}" if base else ""
        instr = row.get("instructions")
        iratio = f"{instr / base['instructions']:.2f}" if base and instr and base.get("instructions") else ""
        print(
            f"{key:16} {row['cpu_us']:>8.1f} {ratio:>8} {row['system_us']:>7.1f} {instr or '':>11} "
            f"{iratio:>8} {row['io_calls']:>10}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
