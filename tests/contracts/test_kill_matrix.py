"""The proof that the suites work: the reference client keeps every obligation, and each mutant
(one realistic bug) breaks its own obligation and no other. Derandomised: the same verdicts in CI."""

from __future__ import annotations

import pytest

from contracts.mutants import MUTANTS, factory_for
from contracts.obligations import BY_ID
from contracts.reference import ReferenceClient
from contracts.runner import Arena, _time_machine_or_nothing, run_contracts

EXAMPLES, STEPS = 40, 25  # enough for every mutant to be met by its story (see the closing note)


def verdict(arena: Arena, client: type[ReferenceClient]) -> list[str]:
    factory = factory_for(client)
    report = run_contracts(
        lambda config, clock: factory(config),
        _time_machine_or_nothing,
        name=client.__name__,
        examples=EXAMPLES,
        steps=STEPS,
        shrink=False,
        arena=arena,
    )
    return report.broken


def test_the_reference_client_keeps_every_obligation(arena: Arena) -> None:
    assert verdict(arena, ReferenceClient) == []


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.__name__ for m in MUTANTS])
def test_each_mutant_breaks_its_obligation_and_no_other(arena: Arena, mutant: type[ReferenceClient]) -> None:
    expected = mutant.catches  # type: ignore[attr-defined]
    assert expected in BY_ID
    assert verdict(arena, mutant) == [expected]


def test_the_matrix_covers_the_issue_s_mutants() -> None:
    caught = {m.catches for m in MUTANTS}  # type: ignore[attr-defined]
    assert len(MUTANTS) >= 12
    assert {"CC-REUSE", "USER-NO-EXPIRED", "USER-NO-STALE", "INVALID-GRANT-STOP", "RETRY-AFTER",
            "NO-RETRY-INVALID-CLIENT", "STATE-CHECKED", "SECRET-NOT-IN-URL", "VERIFY-SERVER", "DOB-CHECK",
            "REDIRECT-EXACT", "MTLS-PRESENT", "SCA-CLEARED", "SCA-ONE-USE"} <= caught  # fmt: skip
