"""The servers a benchmark drives, each in its own process: `mockwise serve` (as users start it) and
the bare-Starlette baseline (`baseline.py`). Optionally pinned to one CPU."""

from __future__ import annotations

import base64
import json
import os
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent


def _pinned(cpu: int | None) -> Any:
    if cpu is None:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})  # before exec: every thread inherits it


class Process:
    """A server process; `prefix` runs it under another program (`valgrind ...`, see `cpu.py`)."""

    def __init__(
        self, command: list[str], cpu: int | None, prefix: tuple[str, ...] = (), **options: Any
    ) -> None:
        # run from / : `python -m` puts the working directory first on sys.path, before PYTHONPATH,
        # and a checkout's own mockwise would then be served whatever `cpu.py --code` asked for
        self.process = subprocess.Popen([*prefix, *command], preexec_fn=_pinned(cpu), cwd=os.sep, **options)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Baseline(Process):
    """`baseline.py`: POST /oauth/token parses the form and returns a UUID token."""

    def __init__(self, cpu: int | None = None, prefix: tuple[str, ...] = ()) -> None:
        super().__init__(
            [sys.executable, str(HERE / "baseline.py"), "--port", "0"],
            cpu,
            prefix,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the baseline server did not start")
        self.url: str = json.loads(line)["url"]


class Mockwise(Process):
    """`mockwise serve` in a state directory: `--http` (one plain listener) or HTTPS and mTLS.

    The default tenant applies Wise's rate limits (100 requests a second per client, §9), which a
    load test would only measure as 429s: the benchmark switches them off over the control plane,
    as a test suite would."""

    def __init__(
        self,
        state: Path,
        *,
        http: bool,
        cpu: int | None = None,
        extra: tuple[str, ...] = (),
        prefix: tuple[str, ...] = (),
        timeout: float = 30,
    ) -> None:
        self.state = state
        self.ready_seconds = 0.0
        (state / "sandbox.json").unlink(missing_ok=True)
        command = [
            sys.executable,
            "-m",
            "mockwise",
            "serve",
            "--port",
            "0",
            "--state-dir",
            str(state.resolve()),
        ]
        command += ["--quiet"]  # the server is measured, not its console log (a few µs a request)
        command += ["--http"] if http else ["--mtls-port", "0"]
        began = time.perf_counter()
        super().__init__([*command, *extra], cpu, prefix, stdout=subprocess.DEVNULL)
        self.doc = wait_for_sandbox_json(state, self.process, timeout)
        self.ready_seconds = time.perf_counter() - began
        ca = self.doc.get("ca_cert")
        self.verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca) if ca else False
        client = self.doc["clients"][0]
        self.client_id, self.client_secret = client["client_id"], client["client_secret"]
        self.cert = (client["cert"], client["key"]) if client.get("cert") else None
        if self.cert is not None and isinstance(self.verify, ssl.SSLContext):
            self.verify.load_cert_chain(*self.cert)  # once: every http() client shares this context

    @property
    def api_url(self) -> str:
        return str(self.doc["api_url"])

    @property
    def token_url(self) -> str:
        """Where the partner gets tokens: the mTLS host when there is one (mTLS is enforced)."""
        return str(self.doc.get("mtls_api_url") or self.doc["api_url"])

    @property
    def basic(self) -> str:
        return "Basic " + base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()

    def http(self) -> httpx.Client:
        return httpx.Client(verify=self.verify, timeout=60)

    def without_rate_limits(self) -> None:
        with self.http() as http:
            tenant = self.doc["tenant"]
            answer = http.patch(
                f"{self.api_url}/_mockwise/tenants/{tenant}/rate-limits", json={"enabled": False}
            )
            answer.raise_for_status()

    def user_token(self) -> str:
        """A user access token for the seeded user the partner created over API (registration_code)."""
        user = next(u for u in self.doc["users"] if u.get("registration_code"))
        with self.http() as http:
            answer = http.post(
                f"{self.token_url}/oauth/token",
                auth=(self.client_id, self.client_secret),
                data={
                    "grant_type": "registration_code",
                    "client_id": self.client_id,
                    "email": user["email"],
                    "registration_code": user["registration_code"],
                },
            )
            answer.raise_for_status()
            return str(answer.json()["access_token"])


def wait_for_sandbox_json(state: Path, process: subprocess.Popen[Any], timeout: float = 30) -> dict[str, Any]:
    target = state / "sandbox.json"
    deadline = time.monotonic() + timeout
    while not target.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("mockwise serve did not start")
        time.sleep(0.002)
    doc: dict[str, Any] = json.loads(target.read_text(encoding="utf-8"))
    return doc
