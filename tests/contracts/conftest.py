from __future__ import annotations

from collections.abc import Iterator

import pytest

from mockwise.contracts.runner import Arena, local_arena


@pytest.fixture(scope="session")
def arena() -> Iterator[Arena]:
    """One sandbox (HTTPS, mTLS, the impostor) for every contract test of the session."""
    arena = local_arena()
    yield arena
    arena.close()
