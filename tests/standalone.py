"""Running `mockwise serve` as a user does: a real process, its state directory, and Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


@dataclass
class Served:
    process: subprocess.Popen[str]
    doc: dict[str, Any]
    state: Path
    started_in: float  # seconds from spawning the process to sandbox.json
    banner: str = ""

    def read_banner(self) -> str:
        """What the server printed when it became ready (up to "Press Ctrl-C to stop.")."""
        assert self.process.stdout is not None
        while "Press Ctrl-C to stop." not in self.banner:
            line = self.process.stdout.readline()
            if not line:
                break
            self.banner += line
        return self.banner

    def stop(self) -> str:
        """Ctrl-C, and everything the server printed."""
        self.process.send_signal(signal.SIGINT)
        output, _ = self.process.communicate(timeout=10)
        return self.banner + output


def context(
    doc: dict[str, Any], cert: str | os.PathLike[str] | None = None, key: str | os.PathLike[str] | None = None
) -> ssl.SSLContext:
    """Trusts the sandbox's CA (sandbox.json's `ca_cert`); presents `cert` and `key` when given."""
    ctx = ssl.create_default_context(cafile=str(doc["ca_cert"]))
    if cert is not None:
        ctx.load_cert_chain(cert, key)
    return ctx


@contextmanager
def serve(state: Path, *args: str) -> Iterator[Served]:
    (state / "sandbox.json").unlink(missing_ok=True)
    began = time.monotonic()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mockwise",
            "serve",
            "--port",
            "0",
            "--mtls-port",
            "0",
            "--state-dir",
            str(state),
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = began + 20
    while not (state / "sandbox.json").exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"server did not start: {process.communicate()[0]}")
        time.sleep(0.01)
    started_in = time.monotonic() - began
    try:
        yield Served(process, json.loads((state / "sandbox.json").read_text()), state, started_in)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()
