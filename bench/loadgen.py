"""Driving a server with `wrk` (Debian's `wrk` package): one scenario, one run, parsed results.

wrk cannot present a TLS client certificate, so for mTLS runs a tiny `LD_PRELOAD` shim (compiled
here with the system C compiler, no OpenSSL headers needed) wraps `SSL_CTX_new` and loads the
certificate and key named by two environment variables into every context wrk makes. The shim
changes nothing else: same wrk, same event loop, same OpenSSL.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

WRK_MISSING = (
    "bench: `wrk` is not installed. It is Debian's HTTP load generator: apt-get install wrk\n"
    "(the mTLS rows also need a C compiler: apt-get install gcc)"
)

SHIM_SOURCE = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_method_st SSL_METHOD;
int SSL_CTX_use_certificate_chain_file(SSL_CTX *ctx, const char *file);
int SSL_CTX_use_PrivateKey_file(SSL_CTX *ctx, const char *file, int type);
SSL_CTX *SSL_CTX_new(const SSL_METHOD *method) {
    static SSL_CTX *(*real)(const SSL_METHOD *) = NULL;
    if (real == NULL) real = (SSL_CTX *(*)(const SSL_METHOD *))dlsym(RTLD_NEXT, "SSL_CTX_new");
    SSL_CTX *ctx = real(method);
    const char *cert = getenv("BENCH_CLIENT_CERT"), *key = getenv("BENCH_CLIENT_KEY");
    if (ctx != NULL && cert != NULL && key != NULL) {
        if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1
            || SSL_CTX_use_PrivateKey_file(ctx, key, 1 /* SSL_FILETYPE_PEM */) != 1) {
            fprintf(stderr, "bench client-certificate shim: cannot load %s / %s\n", cert, key);
            abort();
        }
    }
    return ctx;
}
"""

# wrk's `done` hook: one JSON line with what the table needs (latencies in microseconds).
DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\nBENCH {"requests":%d,"duration_us":%d,"non_2xx":%d,"connect":%d,"read":%d,"write":%d,'
    .. '"timeout":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d,"mean":%.1f,"max":%d}\\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.mean, latency.max))
end
"""


def wrk_path() -> str | None:
    return shutil.which("wrk")


@dataclass
class Request:
    """What every connection sends, again and again (keep-alive)."""

    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""

    def lua(self) -> str:
        lines = [f"wrk.method = {_lua(self.method)}", f"wrk.path = {_lua(self.path)}"]
        if self.body:
            lines.append(f"wrk.body = {_lua(self.body)}")
        lines += [f"wrk.headers[{_lua(k)}] = {_lua(v)}" for k, v in self.headers.items()]
        return "\n".join(lines) + "\n" + DONE


@dataclass
class Result:
    requests: int
    seconds: float
    non_2xx: int
    socket_errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    mean_ms: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def clean(self) -> bool:
        """Every answer a 2xx and no socket error: otherwise the figure measures failures."""
        return self.non_2xx == 0 and self.socket_errors == 0 and self.requests > 0


@dataclass
class ClientCert:
    cert: str
    key: str


class Wrk:
    def __init__(self, workdir: Path, *, threads: int = 1, connections: int = 32, cpu: int | None = None):
        binary = wrk_path()
        if binary is None:
            raise SystemExit(WRK_MISSING)
        self.binary = binary
        self.workdir = workdir
        self.threads = threads
        self.connections = connections
        self.cpu = cpu
        self._shim: Path | None = None

    def shim(self) -> Path | None:
        """The client-certificate shim, compiled once; None without a C compiler."""
        if self._shim is None:
            compiler = shutil.which("cc") or shutil.which("gcc")
            if compiler is None:
                return None
            source = self.workdir / "client_cert_shim.c"
            source.write_text(SHIM_SOURCE, encoding="ascii")
            target = self.workdir / "client_cert_shim.so"
            subprocess.run(
                [compiler, "-shared", "-fPIC", "-O2", "-o", str(target), str(source), "-ldl"], check=True
            )
            self._shim = target
        return self._shim

    def run(self, url: str, request: Request, seconds: float, cert: ClientCert | None = None) -> Result:
        with tempfile.NamedTemporaryFile("w", suffix=".lua", dir=self.workdir, delete=False) as script:
            script.write(request.lua())
        env = dict(os.environ)
        if cert is not None:
            shim = self.shim()
            if shim is None:
                raise RuntimeError(
                    "mTLS runs need a C compiler (apt-get install gcc) for the client-cert shim"
                )
            env |= {"LD_PRELOAD": str(shim), "BENCH_CLIENT_CERT": cert.cert, "BENCH_CLIENT_KEY": cert.key}
        command = [
            self.binary,
            f"-t{self.threads}",
            f"-c{self.connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "5s",
        ]
        command += ["-s", script.name, url + request.path]
        cpu = self.cpu
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            env=env,
            preexec_fn=(lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None,
        )
        Path(script.name).unlink()
        lines = [line for line in done.stdout.splitlines() if line.startswith("BENCH ")]
        if done.returncode != 0 or not lines:
            raise RuntimeError(
                f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}"
            )
        data = json.loads(lines[-1].removeprefix("BENCH "))
        return Result(
            requests=data["requests"],
            seconds=data["duration_us"] / 1e6,
            non_2xx=data["non_2xx"],
            socket_errors=data["connect"] + data["read"] + data["write"] + data["timeout"],
            p50_ms=data["p50"] / 1000,
            p90_ms=data["p90"] / 1000,
            p99_ms=data["p99"] / 1000,
            p999_ms=data["p999"] / 1000,
            mean_ms=data["mean"] / 1000,
        )


def _lua(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid Lua string literal for ASCII text
