"""The kill matrix's must-pass references for what platforms' HTTP stacks do by default: a client
that resumes TLS sessions keeps VERIFY-SERVER, one whose stack retries an idempotent request once
after a reset keeps RETRY-BOUNDED, and both keep every other obligation (each behaviour is seen to
happen, so the test cannot pass by not exercising it)."""

from __future__ import annotations

import pytest

from mockwise.contracts.habits import HABITS, ResumingContext, RetryOnceTransport
from mockwise.contracts.reference import ReferenceClient
from mockwise.contracts.runner import Arena, python_client, run_contracts


@pytest.mark.parametrize("client", HABITS, ids=[c.__name__ for c in HABITS])
def test_a_platform_habit_breaks_no_obligation(arena: Arena, client: type[ReferenceClient]) -> None:
    resumed, retried = ResumingContext.resumed, RetryOnceTransport.retried
    make, clock = python_client(f"{client.__module__}:{client.__name__}")
    report = run_contracts(make, clock, name=client.__name__, shrink=False, arena=arena)
    assert report.broken == [], report.text()
    assert report.not_exercised == [], report.notes
    if client.__name__ == "ResumesSessions":
        assert ResumingContext.resumed > resumed  # it really resumed sessions
    else:
        assert RetryOnceTransport.retried > retried  # its stack really retried after resets
