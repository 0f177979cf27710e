"""Clients in any language: judged as subprocesses speaking JSON lines, their clock moved by
libfaketime (when installed)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from contracts.clocks import find_libfaketime
from contracts.runner import Arena, run_contracts
from contracts.subprocess_driver import subprocess_client

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "partner_client.py"
needs_faketime = pytest.mark.skipif(
    find_libfaketime() is None and shutil.which("faketime") is None,
    reason="libfaketime (apt: faketime) missing",
)


@needs_faketime
def test_the_reference_client_passes_as_a_subprocess(arena: Arena) -> None:
    make, clock = subprocess_client(
        f"{sys.executable} -m contracts.subprocess_driver contracts.reference:factory"
    )
    report = run_contracts(
        make, clock, name="reference (subprocess)", examples=15, steps=15, shrink=False, arena=arena
    )
    assert report.broken == []


@needs_faketime
def test_the_readme_example_client_gets_its_verdict(arena: Arena) -> None:
    """The README's "Test your client": a standalone script with two bugs on purpose."""
    make, clock = subprocess_client(f"{sys.executable} {EXAMPLE}")
    report = run_contracts(
        make, clock, name="examples/partner_client.py", examples=50, steps=25, shrink=False, arena=arena
    )
    broken = set(report.broken)
    assert {"USER-NO-EXPIRED", "STATE-CHECKED"} <= broken  # its two deliberate bugs
    assert not broken & {"AUTH-BASIC", "SECRET-NOT-IN-URL", "MTLS-PRESENT", "VERIFY-SERVER", "DOB-CHECK"}


def test_a_client_that_dies_is_reported_not_hung(arena: Arena) -> None:
    make, clock = subprocess_client(f"{sys.executable} -c 'import sys; sys.exit(3)'")
    report = run_contracts(make, clock, name="dead", examples=2, steps=3, shrink=False, arena=arena)
    assert "WORKS" in report.broken
