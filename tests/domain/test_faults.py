"""Faults saved by a state store come back whole, and those saved before a field existed get its
default."""

from __future__ import annotations

import pickle

from mockwise._domain.faults import Fault, FaultKind


def test_a_fault_survives_a_pickle_with_its_retry_after_form() -> None:
    fault = Fault("f1", FaultKind.RATE_LIMITED, retry_after=5, retry_after_form="http-date", clock_offset=7.0)
    again = pickle.loads(pickle.dumps(fault))  # noqa: S301 - our own bytes
    assert (again.retry_after_form, again.clock_offset, again.retry_after) == ("http-date", 7.0, 5)


def test_a_fault_saved_before_retry_after_forms_existed_loads_with_their_defaults() -> None:
    fault = Fault("f1", FaultKind.SERVER_ERROR, status=503)
    _, slots = fault.__getstate__()  # type: ignore[misc]
    old = {k: v for k, v in slots.items() if k not in ("retry_after_form", "clock_offset")}
    loaded = Fault.__new__(Fault)
    loaded.__setstate__((None, old))
    assert loaded.retry_after_form is None and loaded.clock_offset == 0.0 and loaded.status == 503
    assert loaded.error().headers == {}
