"""The README's control-plane curl story, run with real curl against a real server."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from mockwise.domain.sandbox import Sandbox
from mockwise.http.app import create_app
from mockwise.server import Listener, Runner

README = Path(__file__).resolve().parents[1] / "README.md"
SHELL = re.findall(r"```sh\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
STORY = next(block for block in SHELL if block.startswith("API=") and "clock/advance" in block)
FAULT = next(block for block in SHELL if "/faults" in block and "API=" not in block)


@pytest.fixture
def api_url() -> Iterator[str]:
    runner = Runner(create_app(Sandbox()), [Listener("api")])
    runner.start_in_thread()
    yield runner.listeners[0].url
    runner.stop_thread()


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_control_plane_story_runs_as_written(api_url: str) -> None:
    script = STORY.replace("API=http://127.0.0.1:8000", f"API={api_url}") + FAULT
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert '{"error":"invalid_token","error_description":"Invalid token"}' in out
    assert '"token_state":"expired"' in out and '"path":"/v1/users/exists"' in out
    assert '"kind":"rate_limited"' in out
