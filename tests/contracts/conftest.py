from __future__ import annotations

from collections.abc import Iterator

import pytest

from mockwise.contracts.report import Report
from mockwise.contracts.runner import Arena, local_arena, python_client, run_contracts


@pytest.fixture(scope="session")
def arena() -> Iterator[Arena]:
    """One sandbox (HTTPS, mTLS, the impostor) for every contract test of the session."""
    arena = local_arena()
    yield arena
    arena.close()


@pytest.fixture(scope="session")
def reference_report(arena: Arena) -> Report:
    """The first reference client's verdict in the default budget (shared by the kill matrix and
    the variation coverage: telling it once saves twenty seconds)."""
    make, clock = python_client("mockwise.contracts.reference:ReferenceClient")
    return run_contracts(make, clock, name="ReferenceClient", shrink=False, arena=arena)
