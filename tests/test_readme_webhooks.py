"""The README's "Receive webhooks" walkthrough, as written: `mockwise serve`, the example receiver
started with the README's command, and the README's curl commands subscribing it and asking for a
test notification, which the receiver verifies with the published key (issue 29's "done when")."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.standalone import Served, serve

ROOT = Path(__file__).resolve().parents[1]
TEXT = (ROOT / "README.md").read_text(encoding="utf-8")
SECTION = TEXT.split("## Receive webhooks", 1)[1].split("\n## ", 1)[0]
RECEIVER, SUBSCRIBE = (
    next(b for b in re.findall(r"```sh\n(.*?)```", SECTION, flags=re.S) if marker in b)
    for marker in ("examples/webhook_receiver.py", "test-notifications")
)

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fitted(script: str, served: Served, port: int) -> str:
    """The README assumes the default ports; the test's server and receiver have free ones."""
    return (
        script.replace("https://127.0.0.1:8443", served.doc["api_url"])
        .replace("https://127.0.0.1:8444", served.doc["mtls_api_url"])
        .replace("9443", str(port))
        .replace(".venv/bin/python", sys.executable)
        .replace("examples/", f"{ROOT}/examples/")  # the checkout's; the state directory is elsewhere
    )


class Lines:
    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert process.stdout is not None
        self.stream = stream = process.stdout
        self.reader = threading.Thread(
            target=lambda: self.lines.extend(iter(stream.readline, "")), daemon=True
        )
        self.reader.start()

    def close(self) -> None:
        self.reader.join(5)  # the process is gone: the reader met the end of its output
        self.stream.close()

    def wait_for(self, text: str, timeout: float = 15) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = next((line for line in self.lines if text in line), None)
            if found is not None:
                return found
            time.sleep(0.02)
        raise AssertionError(f"{text!r} never came; the receiver printed {self.lines}")


def test_the_example_receiver_verifies_a_test_notification_from_mockwise_serve(tmp_path: Path) -> None:
    port = free_port()
    with serve(tmp_path / ".mockwise") as served:
        doc = served.doc
        assert Path(doc["webhook_public_key"]).read_text().startswith("-----BEGIN PUBLIC KEY-----")
        assert "webhook key" in served.read_banner()
        command = shlex.split(fitted(RECEIVER, served, port).replace("\\\n", " "))  # as typed
        receiver = subprocess.Popen(
            command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        out = Lines(receiver)
        try:
            out.wait_for("receiving on")
            done = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", fitted(SUBSCRIBE, served, port)],
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert done.returncode == 0, done.stderr
            [queued] = json.loads(done.stdout.strip().splitlines()[-1])
            line = out.wait_for(queued["delivery_id"])
            assert line.strip() == (
                f"verified test notification {queued['delivery_id']} (transfers#state-change): not acted on"
            )
            # a forgery is refused, as the README says
            faults = f"{doc['control_url']}/tenants/default/faults"
            arm = ["curl", "-s", "--cacert", doc["ca_cert"], "-H", "Content-Type: application/json"]
            arm += ["-X", "POST", faults, "-d", '{"kind": "webhook_bad_signature"}']
            subprocess.run(arm, check=True, capture_output=True, timeout=10)
            again = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", fitted(SUBSCRIBE, served, port)],
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=60,
            )
            [forged] = json.loads(again.stdout.strip().splitlines()[-1])
            assert "refused" in out.wait_for(forged["delivery_id"])
        finally:
            receiver.terminate()
            receiver.wait(10)
            out.close()
