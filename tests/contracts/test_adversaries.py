"""Each obligation has a family of adversaries, not one instance: the ways the stories try to make a
client break it. Every one of them is met in the default run, by the first reference client."""

from __future__ import annotations

from mockwise.contracts.obligations import ADVERSARIES, CATALOG
from mockwise.contracts.report import Report


def test_every_obligation_declares_its_adversaries() -> None:
    assert set(ADVERSARIES) == {o.id for o in CATALOG}
    assert all(ADVERSARIES[o.id] for o in CATALOG)


def test_the_default_run_meets_every_adversary_of_every_obligation(reference_report: Report) -> None:
    unmet = {
        v.obligation.id: sorted(set(ADVERSARIES[v.obligation.id]) - set(v.situations))
        for v in reference_report.verdicts
    }
    assert {k: v for k, v in unmet.items() if v} == {}


def test_each_obligation_is_declared_once_beside_its_check() -> None:
    from mockwise.contracts.checks import linking, outcomes, requests, retries, tokens
    from mockwise.contracts.obligations import ORDER

    declared = [o.id for family in (requests, tokens, retries, linking, outcomes) for o in family.OBLIGATIONS]
    assert sorted(declared) == sorted(ORDER) and len(set(declared)) == len(declared)
