"""The proof that the suites work: in the default run the reference client keeps every obligation
and every obligation is put to the test; each mutant (one realistic bug) breaks its own obligation
and no other. Derandomised: the same verdicts in CI."""

from __future__ import annotations

import pytest

from mockwise.contracts.mutants import MUTANTS
from mockwise.contracts.obligations import BY_ID, CATALOG
from mockwise.contracts.reference import ReferenceClient, RetryingReference
from mockwise.contracts.report import Report
from mockwise.contracts.runner import Arena, python_client, run_contracts

# A mutant's run stops once its own obligation is broken, but not before this many stories, so a
# bug that also breaks another obligation has had the chance to show it.
AT_LEAST = 10


def verdict(arena: Arena, client: type[ReferenceClient], catches: str | None = None) -> Report:
    make, clock = python_client(f"{client.__module__}:{client.__name__}")
    strict_only = catches is not None and "wise" not in BY_ID[catches].profiles
    return run_contracts(
        make,
        clock,
        name=client.__name__,
        profile="strict" if strict_only else "wise",
        shrink=False,
        arena=arena,
        enough=None if catches is None else lambda broken, stories: catches in broken and stories >= AT_LEAST,
    )


@pytest.mark.parametrize("reference", [ReferenceClient, RetryingReference], ids=lambda c: c.__name__)
def test_each_reference_client_keeps_every_obligation_and_all_are_exercised(
    arena: Arena, reference: type[ReferenceClient], reference_report: Report
) -> None:
    """Obligations never contradict: a client that gives a failed code exchange up and one that
    retries every transient failure (code exchange and refresh included) both keep them all."""
    report = reference_report if reference is ReferenceClient else verdict(arena, reference)
    assert report.broken == [], report.text()
    assert report.not_exercised == [], report.notes


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.__name__ for m in MUTANTS])
def test_each_mutant_breaks_its_obligation_and_no_other(arena: Arena, mutant: type[ReferenceClient]) -> None:
    expected = mutant.catches  # type: ignore[attr-defined]
    assert expected in BY_ID
    report = verdict(arena, mutant, expected)
    assert report.broken == [expected], report.text()


def test_every_obligation_has_a_mutant() -> None:
    caught = {m.catches for m in MUTANTS}  # type: ignore[attr-defined]
    assert caught == {o.id for o in CATALOG} - {"REFRESH-EARLY"}  # a margin, not a bug


def test_a_correct_client_written_another_way_keeps_every_obligation(arena: Arena) -> None:
    """No false alarm for habits the reference does not have (monotonic timing, a sleep bound at
    import, its own registration codes, last-value-wins parsing), and no false green either."""
    make, clock = python_client("tests.contracts.independent_client:factory")
    report = run_contracts(make, clock, name="independent", examples=50, shrink=False, arena=arena)
    assert report.broken == [], report.text()
    assert set(report.not_exercised) == {"SCA-CLEARED", "SCA-ONE-USE"}  # it has no fund_transfer
