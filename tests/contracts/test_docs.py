"""docs/contracts.md cannot rot: its adapter is the example file's own code, and that adapter, around
a client that was not written for the suites, gets the verdict the page describes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mockwise.contracts.runner import Arena, python_client, run_contracts

ROOT = Path(__file__).resolve().parents[2]
PAGE = (ROOT / "docs" / "contracts.md").read_text(encoding="utf-8")
EXAMPLES = ROOT / "examples" / "partner_tests"


def test_the_page_s_adapter_is_the_example_file_verbatim() -> None:
    [excerpt] = re.findall(r"<!-- adapter -->\n```python\n(.*?)```", PAGE, flags=re.S)
    assert excerpt.strip() in (EXAMPLES / "wise_adapter.py").read_text(encoding="utf-8")


def test_the_readme_links_the_page() -> None:
    assert "docs/contracts.md" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_wrapped_integration_gets_the_verdict_the_page_describes(
    arena: Arena, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLES))
    make, clock = python_client("wise_adapter:factory")
    report = run_contracts(make, clock, name="wise_adapter", examples=40, shrink=False, arena=arena)
    assert {"USER-NO-STALE", "INVALID-GRANT-STOP", "RELINK-REPORTED", "WORKS"} <= set(report.broken)
    assert not set(report.broken) & {"STATE-CHECKED", "DOB-CHECK", "AUTH-BASIC", "MTLS-PRESENT", "CC-REUSE"}
    reasons = {v.obligation.id: v.reason for v in report.verdicts if not v.exercised}
    no_transfers = "the client does not offer the optional `fund_transfer` operation: no story can reach it"
    assert reasons == {
        "REGCODE-FALLBACK": "the client does not offer the `create_user` operation: no story can reach it",
        "SCA-CLEARED": no_transfers,
        "SCA-ONE-USE": no_transfers,
    }
