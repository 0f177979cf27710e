"""Webhook receivers in other languages, judged across the process boundary (issue 29): the Node
example (built-ins only) and the Java example (the JDK's HttpsServer and Signature, compiled here
with javac) each serve HTTPS on their own port, where the sandbox delivers for real, and keep every
receiver obligation with none left untested; each language's one-bug variant is caught under its
own obligation and no other. A Node verdict takes a few seconds; the JVM's take longer (slow-marked,
CI runs them)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from mockwise.contracts.receiver.runner import (
    ReceiverArena,
    command_receiver,
    local_arena,
    run_receiver_contracts,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
REQUIRED = os.environ.get("MOCKWISE_REQUIRE_RUNTIMES") == "1"  # CI: Node and the JDK must be there


def _needs(program: str) -> None:
    if shutil.which(program) is None:
        if REQUIRED:
            pytest.fail(f"{program} is missing (apt-get install nodejs openjdk-17-jdk-headless)")
        pytest.skip(f"{program} is missing")


@pytest.fixture(scope="module")
def arena() -> Iterator[ReceiverArena]:
    arena = local_arena()
    yield arena
    arena.close()


@pytest.fixture(scope="module")
def java_classes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Java example and its variants, compiled with the JDK's javac (no build tool, no jars)."""
    _needs("javac")
    _needs("java")
    build = tmp_path_factory.mktemp("java-build")
    sources = sorted(str(p) for p in (EXAMPLES / "java").glob("*/*.java"))
    subprocess.run(["javac", "-Xlint:all", "-Werror", "-d", str(build), *sources], check=True, timeout=300)
    return build


def _node(script: str) -> str:
    _needs("node")
    return f"node {EXAMPLES / 'node' / script}"


def _judge(arena: ReceiverArena, command: str) -> list[str]:
    report = run_receiver_contracts(command_receiver(command), name=command, arena=arena)
    assert report.not_exercised == [], report.text()  # every obligation put to the test
    return report.broken


def test_the_node_receiver_keeps_every_obligation(arena: ReceiverArena) -> None:
    """examples/node/receiver.mjs: crypto.verify over the raw body, at its own HTTPS URL."""
    assert _judge(arena, _node("receiver.mjs")) == []


def test_the_node_variant_is_caught_under_hook_signed(arena: ReceiverArena) -> None:
    """It skips verification when X-Signature-SHA256 is absent: the unsigned forgery and the one
    with only v1's X-Signature are acted on."""
    assert _judge(arena, _node("variants/accepts-unsigned.mjs")) == ["HOOK-SIGNED"]


@pytest.mark.slow
def test_the_java_receiver_keeps_every_obligation(arena: ReceiverArena, java_classes: Path) -> None:
    """examples/java/src/Receiver.java: SHA256withRSA over the raw body, at its own HttpsServer."""
    assert _judge(arena, f"java -cp {java_classes} Receiver") == []


@pytest.mark.slow
def test_the_java_variant_is_caught_under_hook_once(arena: ReceiverArena, java_classes: Path) -> None:
    """It takes each X-Delivery-Id once: when the id names the attempt, a redelivery is acted on
    twice (the suite's story with `webhooks.delivery_id` = attempt)."""
    assert _judge(arena, f"java -cp {java_classes} DeduplicatesByDeliveryId") == ["HOOK-ONCE"]
