"""What an mTLS handshake costs on `mockwise serve`: full and resumed (session resumption), TLS 1.3
and TLS 1.2, reported as handshakes per second. A benchmark, not a test.

    python bench/mtls_handshake.py [--count 500] [--json]

It starts `mockwise serve` in its own process (a fresh state directory), then, from one client
thread, opens connections to the mTLS listener and sends one `GET /v1/authenticated/playground`
(a bearer token and the mTLS checks: the whole path a partner's call takes) on each:

- full:      a new connection and a full handshake with the client certificate each time;
- resumed:   a new connection resuming the previous TLS session (tickets; no certificate exchange);
- reused:    the same request on one kept-alive connection: the cost of the request alone.

handshakes/s = connections per second; "handshake ms" = per-connection time minus the reused request
time, i.e. what the handshake adds. Both processes share the machine's cores.

With `openssl` on the PATH it also measures the server with a C client (`openssl s_time -www /`,
new sessions vs `-reuse`), which shows the server's own capacity without Python's client costs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=500, help="connections per measurement")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--seconds", type=float, default=3, help="duration of each openssl s_time run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mockwise-bench-") as state, served(Path(state)) as doc:
        client = doc["clients"][0]
        host, port = doc["mtls_api_url"].removeprefix("https://").rsplit(":", 1)
        context = ssl.create_default_context(cafile=doc["ca_cert"])
        context.load_cert_chain(client["cert"], client["key"])
        token = httpx.post(
            f"{doc['mtls_api_url']}/oauth/token",
            auth=(client["client_id"], client["client_secret"]),
            data={"grant_type": "client_credentials"},
            verify=context,
        ).json()["access_token"]
        request = (
            f"GET /v1/authenticated/playground HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {token}\r\n\r\n"
        ).encode()
        results = []
        for version in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
            ctx = ssl.create_default_context(cafile=doc["ca_cert"])
            ctx.load_cert_chain(client["cert"], client["key"])
            ctx.minimum_version = ctx.maximum_version = version
            bench = Bench(host, int(port), ctx, request)
            bench.connect(resume=False)  # warm up
            reused = bench.reused(args.count)
            full = bench.connections(args.count, resume=False)
            resumed = bench.connections(args.count, resume=True)
            results.append(
                {
                    "tls": version.name,
                    "full_per_s": round(args.count / full),
                    "resumed_per_s": round(args.count / resumed),
                    "request_per_s": round(args.count / reused),
                    "full_handshake_ms": round((full - reused) / args.count * 1000, 3),
                    "resumed_handshake_ms": round((resumed - reused) / args.count * 1000, 3),
                    "resumed_share": bench.resumed_share,
                }
            )
        s_time = openssl_s_time(doc, args.seconds) if shutil.which("openssl") else []
    report(results, s_time, args.count, as_json=args.json)


def openssl_s_time(doc: dict[str, Any], seconds: float) -> list[dict[str, Any]]:
    client, target = doc["clients"][0], doc["mtls_api_url"].removeprefix("https://")
    common = ["-connect", target, "-www", "/", "-time", str(int(seconds)), "-CAfile", doc["ca_cert"]]
    common += ["-cert", client["cert"], "-key", client["key"]]
    rows = []
    for version in ("-tls1_3", "-tls1_2"):
        row: dict[str, Any] = {"tls": version}
        for mode in ("-new", "-reuse"):
            began = time.perf_counter()
            command = ["openssl", "s_time", *common, version, mode]
            done = subprocess.run(command, capture_output=True, text=True)
            elapsed = time.perf_counter() - began
            counts = [int(n) for n in re.findall(r"^(\d+) connections in", done.stdout, flags=re.M)]
            row[mode.strip("-")] = round(counts[-1] / elapsed) if counts else None
        rows.append(row)
    return rows


class Bench:
    def __init__(self, host: str, port: int, context: ssl.SSLContext, request: bytes) -> None:
        self.host, self.port, self.context, self.request = host, port, context, request
        self.session: ssl.SSLSession | None = None
        self.resumed_share = 0.0

    def connect(self, *, resume: bool) -> bool:
        raw = socket.create_connection((self.host, self.port))
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        session = self.session if resume else None
        with self.context.wrap_socket(raw, server_hostname=self.host, session=session) as tls:
            self.exchange(tls)
            self.session = tls.session  # TLS 1.3 tickets arrive after the handshake: read first
            return tls.session_reused

    def exchange(self, tls: ssl.SSLSocket) -> None:
        tls.sendall(self.request)
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += tls.recv(65536)
        head, _, body = answer.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"unexpected answer: {head[:80]!r}")
        lengths = [h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:")]
        length = int(lengths[0].split(b":")[1])
        while len(body) < length:
            body += tls.recv(65536)

    def connections(self, count: int, *, resume: bool) -> float:
        resumed = 0
        began = time.perf_counter()
        for _ in range(count):
            resumed += self.connect(resume=resume)
        elapsed = time.perf_counter() - began
        if resume:
            self.resumed_share = resumed / count
        return elapsed

    def reused(self, count: int) -> float:
        raw = socket.create_connection((self.host, self.port))
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.context.wrap_socket(raw, server_hostname=self.host) as tls:
            self.exchange(tls)
            began = time.perf_counter()
            for _ in range(count):
                self.exchange(tls)
            return time.perf_counter() - began


class served:
    def __init__(self, state: Path) -> None:
        self.state = state

    def __enter__(self) -> dict[str, Any]:
        command = [sys.executable, "-m", "mockwise", "serve", "--quiet", "--port", "0", "--mtls-port", "0"]
        self.process = subprocess.Popen(
            [*command, "--state-dir", str(self.state)], stdout=subprocess.DEVNULL, env={**os.environ}
        )
        deadline = time.monotonic() + 30
        while not (self.state / "sandbox.json").exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("mockwise serve did not start")
            time.sleep(0.02)
        return json.loads((self.state / "sandbox.json").read_text())  # type: ignore[no-any-return]

    def __exit__(self, *exc: object) -> None:
        self.process.send_signal(signal.SIGINT)
        self.process.wait(10)


def report(results: list[dict[str, Any]], s_time: list[dict[str, Any]], count: int, *, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"count": count, "python_client": results, "openssl_s_time": s_time}, indent=2))
        return
    print(f"mTLS handshakes against `mockwise serve` ({count} connections each, one client thread)")
    print(f"{'':8} {'full/s':>8} {'resumed/s':>10} {'req/s (kept)':>13} {'full ms':>8} {'resumed ms':>11}")
    for r in results:
        print(
            f"{r['tls']:8} {r['full_per_s']:>8} {r['resumed_per_s']:>10} {r['request_per_s']:>13} "
            f"{r['full_handshake_ms']:>8} {r['resumed_handshake_ms']:>11}"
            + ("" if r["resumed_share"] == 1 else f"  (only {r['resumed_share']:.0%} resumed)")
        )
    _report_s_time(s_time)


def _report_s_time(rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    print()
    print("the same server with a C client: openssl s_time -www / (connections per wall-clock second)")
    print(f"{'':8} {'full/s':>8} {'resumed/s':>10}")
    for row in rows:
        print(f"{row['tls']:8} {row['new']:>8} {row['reuse']:>10}")


if __name__ == "__main__":
    main()
