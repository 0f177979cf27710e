"""Running `mockwise serve` as a user does: a real process, its state directory, and Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest


@dataclass
class Served:
    process: subprocess.Popen[str]
    doc: dict[str, Any]
    state: Path
    started_in: float  # seconds from spawning the process to sandbox.json
    lines: list[str] = field(default_factory=list)  # everything it printed so far (a reader thread)
    reader: threading.Thread | None = None

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def read_banner(self, timeout: float = 10) -> str:
        """What the server printed when it became ready (up to "Press Ctrl-C to stop.")."""
        deadline = time.monotonic() + timeout
        while "Press Ctrl-C to stop." not in self.output and time.monotonic() < deadline:
            if self.reader is not None and not self.reader.is_alive():
                break
            time.sleep(0.01)
        return self.output.split("Press Ctrl-C to stop.", 1)[0] + "Press Ctrl-C to stop.\n"

    def log_lines(self, timeout: float = 5, count: int = 1) -> list[str]:
        """The request log's lines (printed after the banner), waiting for `count` of them."""
        deadline = time.monotonic() + timeout
        while True:
            after = self.output.split("Press Ctrl-C to stop.\n", 1)[-1]
            found = [line for line in after.splitlines() if line and not line.startswith("mockwise stopped")]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.01)

    def stop(self) -> str:
        """Ctrl-C, and everything the server printed."""
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=10)
        if self.reader is not None:
            self.reader.join(5)
        return self.output


def _drain(process: subprocess.Popen[str], into: list[str]) -> None:
    """Read the server's output as it comes, so that its request log never fills the pipe."""
    assert process.stdout is not None
    for line in process.stdout:
        into.append(line)


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
            *(() if "--http" in args else ("--mtls-port", "0")),
            "--state-dir",
            str(state),
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: list[str] = []
    reader = threading.Thread(target=_drain, args=(process, lines), daemon=True)
    reader.start()
    deadline = began + 20
    try:  # whatever happens from here on, the server does not outlive the test
        while not (state / "sandbox.json").exists():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"server did not start: {''.join(lines)}")
            time.sleep(0.01)
        started_in = time.monotonic() - began
        doc = json.loads((state / "sandbox.json").read_text())
        yield Served(process, doc, state, started_in, lines, reader)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        reader.join(5)
        assert process.stdout is not None
        process.stdout.close()
