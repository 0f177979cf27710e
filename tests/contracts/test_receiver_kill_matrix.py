"""The proof that the receiver suite works (issue 29): the reference receiver keeps every obligation
and every obligation is put to the test; each mutant breaks its own obligation and no other; and a
receiver in another process, over JSON lines or at a real HTTPS URL, is judged the same way."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mockwise.contracts.receiver.catalog import BY_ID, CATALOG, markdown
from mockwise.contracts.receiver.mutants import MUTANTS
from mockwise.contracts.receiver.reference import ReferenceReceiver
from mockwise.contracts.receiver.runner import (
    ReceiverArena,
    command_receiver,
    local_arena,
    main,
    run_receiver_contracts,
)

ROOT = Path(__file__).resolve().parents[2]
JSON_LINES = f"{sys.executable} {ROOT / 'tests' / 'contracts' / 'receiver_jsonlines.py'}"


@pytest.fixture(scope="module")
def arena() -> Iterator[ReceiverArena]:
    arena = local_arena()
    yield arena
    arena.close()


def test_the_reference_receiver_keeps_every_obligation_and_all_are_exercised(arena: ReceiverArena) -> None:
    report = run_receiver_contracts(ReferenceReceiver, name="reference", arena=arena)
    assert report.broken == [], report.text()
    assert report.not_exercised == [], report.text()


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.__name__ for m in MUTANTS])
def test_each_mutant_breaks_its_obligation_and_no_other(arena: ReceiverArena, mutant: type) -> None:
    expected = mutant.catches
    assert expected in BY_ID
    report = run_receiver_contracts(mutant, name=mutant.__name__, arena=arena)
    assert report.broken == [expected], report.text()


def test_every_obligation_has_a_mutant() -> None:
    assert {m.catches for m in MUTANTS} == {o.id for o in CATALOG}  # type: ignore[attr-defined]


def test_a_receiver_speaking_json_lines_is_judged_the_same(arena: ReceiverArena) -> None:
    report = run_receiver_contracts(command_receiver(JSON_LINES), name="json lines", arena=arena)
    assert report.broken == [] and report.not_exercised == [], report.text()


def test_the_example_receiver_at_its_own_https_url_keeps_every_obligation(arena: ReceiverArena) -> None:
    """examples/webhook_receiver.py, a partner's receiver with nothing of mockwise in it: the
    sandbox posts to its own HTTPS server (real sockets, real TLS)."""
    example = f"{sys.executable} {ROOT / 'examples' / 'webhook_receiver.py'} --suite"
    report = run_receiver_contracts(command_receiver(example), name="example", arena=arena)
    assert report.broken == [] and report.not_exercised == [], report.text()


def test_the_command_line_says_what_broke(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    spec = "mockwise.contracts.receiver.mutants:ActsOnTestNotifications"
    assert main(["--receiver", spec, "--json", str(tmp_path / "report.json")]) == 1
    out = capsys.readouterr().out
    assert "BROKEN HOOK-TEST" in out and "transfer 0" in out
    assert '"verdict": "broken"' in (tmp_path / "report.json").read_text()


def test_the_catalog_in_docs_is_current() -> None:
    assert markdown() in (ROOT / "docs" / "receiver-contracts.md").read_text(encoding="utf-8")
