"""Running the receiver suite: an arena (a sandbox in this process sending real notifications), the
stories of `judge` against a receiver, and a report of each obligation: kept, broken (with what
happened) or not put to the test.

    report = run_receiver_contracts(ReferenceReceiver, name="reference")
    assert report.broken == []

From the shell: `python -m mockwise.contracts.receiver --receiver module:factory` (a Python
receiver, `factory(config) -> WiseReceiver`), or `--receiver-cmd "COMMAND"` (any language, JSON
lines: `mockwise.contracts.receiver.jsonlines`).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mockwise._domain.sandbox import Sandbox
from mockwise._pki import KeyPair
from mockwise._transport.webhooks import Dispatcher
from mockwise.contracts.receiver.adapter import ReceiverConfig, WiseReceiver
from mockwise.contracts.receiver.catalog import CATALOG, Obligation
from mockwise.contracts.receiver.judge import VARIATIONS, Findings, Story, Variation

ReceiverFactory = Callable[[ReceiverConfig], WiseReceiver]


@dataclass
class ReceiverArena:
    """A sandbox in this process, its dispatcher, and the files a receiver is configured with."""

    sandbox: Sandbox
    dispatcher: Dispatcher
    config: ReceiverConfig
    files: tempfile.TemporaryDirectory[str]

    def deliver_locally(self, tenant_id: str, receiver: WiseReceiver) -> str:
        """A URL whose deliveries go to `receiver.webhook` in this process (no socket)."""
        url = f"https://receiver-{tenant_id}.localhost/wise/webhooks"
        self.dispatcher.receivers[url] = receiver.webhook
        return url

    def close(self) -> None:
        self.dispatcher.stop()
        self.files.cleanup()


def local_arena() -> ReceiverArena:
    sandbox = Sandbox(seed={})
    dispatcher = Dispatcher(sandbox).start()
    files = tempfile.TemporaryDirectory(prefix="mockwise-receiver-suite-")
    directory = Path(files.name)
    keys, pki = sandbox.webhook_keys, sandbox.pki
    (directory / "webhook-public-key.pem").write_text(keys.public_pem, encoding="ascii")
    (directory / "webhook-production-key.pem").write_text(keys.production_public_pem, encoding="ascii")
    (directory / "ca.pem").write_text(pki.ca_pem, encoding="ascii")
    leaf = pki.ca.issue_cert("localhost", "127.0.0.1", "::1")
    chain = "".join(blob.bytes().decode("ascii") for blob in leaf.cert_chain_pems)
    cert, key = KeyPair(chain, leaf.private_key_pem.bytes().decode("ascii")).write(directory, "receiver")
    config = ReceiverConfig(
        webhook_public_key=str(directory / "webhook-public-key.pem"),
        webhook_production_key=str(directory / "webhook-production-key.pem"),
        ca_cert=str(directory / "ca.pem"),
        server_cert=str(cert),
        server_key=str(key),
    )
    return ReceiverArena(sandbox, dispatcher, config, files)


@dataclass
class Verdict:
    obligation: Obligation
    breaches: list[str]
    exercised: int

    @property
    def kept(self) -> bool:
        return not self.breaches and self.exercised > 0

    def as_json(self) -> dict[str, Any]:
        state = "broken" if self.breaches else "kept" if self.exercised else "not exercised"
        return {"obligation": self.obligation.as_json(), "verdict": state, "exercised": self.exercised,
                "breaches": self.breaches}  # fmt: skip


@dataclass
class ReceiverReport:
    name: str
    verdicts: list[Verdict]
    seconds: float
    stderr: list[str] = field(default_factory=list)

    @property
    def broken(self) -> list[str]:
        return [v.obligation.id for v in self.verdicts if v.breaches]

    @property
    def not_exercised(self) -> list[str]:
        return [v.obligation.id for v in self.verdicts if not v.breaches and not v.exercised]

    def text(self) -> str:
        lines = [
            f"webhook receiver {self.name}: {len(self.broken)} obligation(s) broken ({self.seconds:.1f} s)"
        ]
        for v in self.verdicts:
            o = v.obligation
            if v.breaches:
                lines.append(f"  BROKEN {o.id}: {o.statement}\n         {v.breaches[0]}")
            elif v.exercised:
                lines.append(f"  kept   {o.id} ({v.exercised} time(s) put to the test)")
            else:
                lines.append(f"  not exercised {o.id}")
        if self.stderr:
            lines.append("  receiver's stderr (last lines): " + " | ".join(self.stderr[-3:]))
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        return {
            "receiver": self.name,
            "seconds": self.seconds,
            "verdicts": [v.as_json() for v in self.verdicts],
        }


def run_receiver_contracts(
    make: ReceiverFactory,
    *,
    name: str = "receiver",
    arena: ReceiverArena | None = None,
    variations: tuple[Variation, ...] = VARIATIONS,
) -> ReceiverReport:
    """Tell every story to a fresh receiver each (`make(config)`), and judge."""
    own = arena is None
    arena = arena if arena is not None else local_arena()
    began = time.monotonic()
    findings = Findings()
    stderr: list[str] = []
    try:
        for variation in variations:
            tenant, _ = arena.sandbox.create_tenant(seed=False)
            receiver = make(arena.config)
            try:
                Story(tenant, arena.dispatcher, receiver, variation, findings, arena.deliver_locally).tell()
            finally:
                stderr += list(getattr(receiver, "stderr", []))
                receiver.close()
                arena.dispatcher.receivers.pop(f"https://receiver-{tenant.id}.localhost/wise/webhooks", None)
                arena.sandbox.delete_tenant(tenant.id)
    finally:
        if own:
            arena.close()
    verdicts = [Verdict(o, findings.broken.get(o.id, []), findings.exercised[o.id]) for o in CATALOG]
    return ReceiverReport(name, verdicts, time.monotonic() - began, stderr)


def python_receiver(spec: str) -> ReceiverFactory:
    """`module:factory` (a class taking the config will do), imported as `python -m` would."""
    module_name, _, attr = spec.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    factory: ReceiverFactory = getattr(importlib.import_module(module_name), attr or "factory")
    return factory


def command_receiver(command: str) -> ReceiverFactory:
    from mockwise.contracts.receiver.jsonlines import SubprocessReceiver

    return lambda config: SubprocessReceiver(command, config)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m mockwise.contracts.receiver", description="Judge a Wise webhook receiver."
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--receiver", help="a Python receiver: module:factory (factory(config) -> WiseReceiver)"
    )
    which.add_argument("--receiver-cmd", help="a receiver in any language: a command speaking JSON lines")
    parser.add_argument("--json", help="also write the verdicts as JSON here")
    args = parser.parse_args(argv)
    if args.receiver:
        make, name = python_receiver(args.receiver), args.receiver
    else:
        make, name = command_receiver(args.receiver_cmd), args.receiver_cmd
    report = run_receiver_contracts(make, name=name)
    print(report.text())
    if args.json:
        Path(args.json).write_text(json.dumps(report.as_json(), indent=2), encoding="utf-8")
    return 1 if report.broken else 0
