"""`seconds_left`: Spring's truncation of the seconds a token has left, read to the microsecond."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from mockwise._http.render import seconds_left

# Fractions of a second around the places where reading to the microsecond decides the answer.
near_whole = st.sampled_from(
    [0.0, 1e-7, 4.9999e-7, 5e-7, 5.0001e-7, 1e-6, 0.5, 0.9999995, 0.999999, -1e-7, -5e-7]
)


def reference(expires_at: float, now: float) -> int:
    return max(0, math.ceil(round(expires_at - now, 6)) - 1)


@given(now=st.floats(0, 4e9), whole=st.integers(-10, 10**9), fraction=near_whole)
def test_seconds_left_reads_the_time_left_to_the_microsecond(now: float, whole: int, fraction: float) -> None:
    expires_at = now + whole + fraction
    assert seconds_left(expires_at, now) == reference(expires_at, now)


@given(expires_at=st.floats(-1e10, 1e10), now=st.floats(-1e10, 1e10))
def test_seconds_left_for_any_pair_of_instants(expires_at: float, now: float) -> None:
    assert seconds_left(expires_at, now) == reference(expires_at, now)


def test_a_fresh_twelve_hour_token_has_43199_seconds_left() -> None:
    now = 1_765_000_000.123456
    assert seconds_left(now + 43200, now) == 43199
    assert seconds_left(now + 628639556, now) == 628639555  # the sum is not exact in floating point
