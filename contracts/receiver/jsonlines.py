"""Judging a receiver written in any language: the suite drives it as a subprocess, in JSON lines.

The protocol, one JSON object per line:

    suite → receiver (stdin)                               receiver → suite (stdout)
    {"id": 1, "op": "webhook_url"}                         {"id": 1, "url": null}  (or "https://...")
    {"id": 2, "op": "webhook", "headers": {...},
     "body": "<the raw body, Base64>"}                     {"id": 2, "status": 200}
    {"id": 3, "op": "transfer_state", "transfer_id": 1001} {"id": 3, "state": "processing"}  (or null)
    {"id": 4, "op": "notices"}                             {"id": 4, "notices": [{"transfer_id": 1001,
                                                                                  "state": "processing"}]}
    {"id": 5, "op": "processing", "seconds": 2.5}          {"id": 5, "ok": true}
    {"id": 6, "op": "idle", "timeout": 5}                  {"id": 6, "idle": true}
    {"id": 7, "op": "close"}                               {"id": 7, "ok": true}, then exit

`webhook` carries a delivery exactly as it arrived (the headers as sent, the body's bytes in
Base64: verify the signature over those bytes); several may be in flight at once (the sandbox
delivers concurrently), so answer each with its `id`, in any order, and do not let a slow one hold
up the others. A receiver that serves HTTPS itself answers `webhook_url` with its URL and never
gets `webhook`: the sandbox posts there (the configuration's `server_cert` and `server_key`, from
the sandbox CA, are certificates the sandbox trusts for `localhost`).

The configuration (`mockwise.contracts.receiver.adapter.ReceiverConfig`) arrives as environment
variables (`MOCKWISE_WEBHOOK_PUBLIC_KEY`, `MOCKWISE_WEBHOOK_PRODUCTION_KEY`, `MOCKWISE_CA_CERT`,
`MOCKWISE_SERVER_CERT`, `MOCKWISE_SERVER_KEY`: file paths) and as the JSON file named by
`MOCKWISE_CONFIG`. Anything on stderr is kept for the report.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shlex
import subprocess
import tempfile
import threading
from collections.abc import Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import IO, Any

from mockwise.contracts.receiver.adapter import ReceiverConfig

ANSWER_TIMEOUT = 30.0  # seconds a receiver has to answer one request of the suite


class SubprocessReceiver:
    """A `WiseReceiver` that is another process speaking the protocol above."""

    def __init__(self, command: str, config: ReceiverConfig) -> None:
        self._files = tempfile.TemporaryDirectory(prefix="mockwise-receiver-")
        config_file = config.write(Path(self._files.name) / "config.json")
        env = {
            **os.environ,
            **config.environment(),
            "MOCKWISE_CONFIG": str(config_file),
            "PYTHONUNBUFFERED": "1",
        }
        self.process = subprocess.Popen(  # noqa: S603 - the user's own receiver, by design
            shlex.split(command),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            bufsize=1,
        )
        self.stderr: list[str] = []
        self._pending: dict[int, Future[dict[str, Any]]] = {}
        self._next = 0
        self._lock = threading.Lock()
        assert self.process.stdout is not None and self.process.stderr is not None
        threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True).start()
        threading.Thread(target=self._drain, args=(self.process.stderr,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            try:
                message = json.loads(line)
                with self._lock:
                    future = self._pending.pop(int(message["id"]))
            except (ValueError, KeyError, TypeError):
                self.stderr.append(f"(stdout, not protocol) {line.rstrip()}")
                continue
            future.set_result(message)
        with self._lock:
            for future in self._pending.values():
                future.set_exception(ConnectionError(f"the receiver exited ({self.process.poll()})"))
            self._pending.clear()

    def _drain(self, stream: IO[str]) -> None:
        for line in stream:
            self.stderr.append(line.rstrip())
            del self.stderr[:-200]

    def ask(self, op: str, wait: float = ANSWER_TIMEOUT, **args: Any) -> dict[str, Any]:
        future: Future[dict[str, Any]] = Future()
        with self._lock:
            if self.process.poll() is not None:
                raise ConnectionError(f"the receiver exited ({self.process.poll()}): {self.stderr[-3:]}")
            self._next += 1
            ident = self._next
            self._pending[ident] = future
            assert self.process.stdin is not None
            self.process.stdin.write(json.dumps({"id": ident, "op": op, **args}) + "\n")
            self.process.stdin.flush()
        return future.result(timeout=wait)

    # WiseReceiver ----------------------------------------------------------------------------------

    def url(self) -> str | None:
        url = self.ask("webhook_url").get("url")
        return str(url) if url else None

    def webhook(self, headers: Mapping[str, str], body: bytes) -> int:
        encoded = base64.b64encode(body).decode("ascii")
        return int(self.ask("webhook", headers=dict(headers), body=encoded)["status"])

    def transfer_state(self, transfer_id: int) -> str | None:
        state = self.ask("transfer_state", transfer_id=transfer_id).get("state")
        return str(state) if state is not None else None

    def notices(self) -> list[dict[str, object]]:
        return list(self.ask("notices").get("notices") or [])

    def processing(self, seconds: float) -> None:
        self.ask("processing", seconds=seconds)

    def idle(self, timeout: float) -> bool:
        return bool(self.ask("idle", wait=timeout + 5, timeout=timeout).get("idle"))

    def close(self) -> None:
        with contextlib.suppress(ConnectionError, TimeoutError, OSError):
            if self.process.poll() is None:
                self.ask("close", wait=5)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self._files.cleanup()
