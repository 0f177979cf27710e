"""The suites against a `mockwise serve` running in another process, found as the pytest plugin
finds one: its state directory, or its API URL with its CA. The reference client keeps every
obligation there too; its waits (Retry-After, backoff) are real, since that sandbox's clock is
not this process's."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mockwise.contracts.reference import ReferenceClient
from mockwise.contracts.runner import _time_machine_or_nothing, arena_for, run_contracts
from tests.standalone import Served, serve


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve(tmp_path_factory.mktemp("running") / ".mockwise") as server:
        yield server


@pytest.mark.parametrize("found_by", ["state directory", "URL and CA"])
def test_the_reference_keeps_every_obligation_on_a_running_sandbox(served: Served, found_by: str) -> None:
    where, ca = (
        (str(served.state), None)
        if found_by == "state directory"
        else (served.doc["api_url"], served.doc["ca_cert"])
    )
    with arena_for(where, ca_cert=ca) as arena:
        assert arena.remote and arena.endpoints["ca_cert"]
        report = run_contracts(
            lambda config, clock: ReferenceClient(config),
            _time_machine_or_nothing,
            name="reference",
            examples=15,
            steps=15,
            shrink=False,
            arena=arena,
        )
    assert report.broken == [] and report.steps > 100


def test_waits_are_real_on_a_sandbox_in_another_process(served: Served) -> None:
    with arena_for(str(served.state)) as arena:
        clock = arena.clocks(_time_machine_or_nothing)()
    assert getattr(clock, "real_waits", False)
