"""Fixtures of the in-process HTTP tests that deliver webhooks: a dispatcher for the test's sandbox,
and a receiver in this process at `HOOK`."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from mockwise._domain.sandbox import Sandbox
from mockwise._transport.webhooks import Dispatcher

HOOK = "https://receiver.localhost/wise"


class Receiver:
    """A receiver in this process: records each delivery, answers `status`."""

    def __init__(self) -> None:
        self.got: list[tuple[dict[str, str], bytes]] = []
        self.status = 200

    def __call__(self, headers: Mapping[str, str], body: bytes) -> int:
        self.got.append((dict(headers), body))
        return self.status

    def json(self, index: int = -1) -> Any:
        return json.loads(self.got[index][1])


@pytest.fixture
def dispatcher(sandbox: Sandbox) -> Iterator[Dispatcher]:
    dispatcher = Dispatcher(sandbox).start()
    yield dispatcher
    dispatcher.stop()


@pytest.fixture
def receiver(dispatcher: Dispatcher) -> Receiver:
    receiver = Receiver()
    dispatcher.receivers[HOOK] = receiver
    return receiver
