import json
from datetime import UTC, datetime

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from mockwise._domain.clock import Clock, instant_data, instant_from_data, iso_millis, iso_nanos, to_micros


class FakeTime:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_follows_the_system_clock_plus_an_offset() -> None:
    source = FakeTime(1000.0)
    clock = Clock(source)
    assert clock.now() == 1000.0
    source.now = 1005.0
    assert clock.now() == 1005.0
    clock.advance(3600)
    assert clock.now() == 4605.0
    assert clock.offset == 3600


def test_freeze_holds_time_and_advance_still_moves_it() -> None:
    source = FakeTime(1000.0)
    clock = Clock(source)
    clock.freeze()
    source.now = 2000.0
    assert clock.now() == 1000.0
    assert clock.advance(60) == 1060.0
    assert clock.frozen


def test_unfreeze_resumes_without_a_jump() -> None:
    source = FakeTime(1000.0)
    clock = Clock(source)
    clock.freeze()
    clock.advance(10)
    clock.unfreeze()
    assert clock.now() == 1010.0
    source.now = 1001.0
    assert clock.now() == 1011.0


def test_set_jumps_to_an_instant_and_rejects_naive_datetimes() -> None:
    clock = Clock(FakeTime(0.0))
    at = datetime(2030, 1, 1, tzinfo=UTC)
    clock.set(at)
    assert clock.now() == at.timestamp()
    with pytest.raises(ValueError, match="naive"):
        clock.set(datetime(2030, 1, 1))


def test_reset_returns_to_system_time() -> None:
    clock = Clock(FakeTime(5.0))
    clock.advance(100)
    clock.freeze()
    clock.reset()
    assert clock.now() == 5.0 and not clock.frozen


def test_wise_timestamp_formats() -> None:
    instant = datetime(2025, 4, 11, 3, 43, 28, 148000, tzinfo=UTC).timestamp()
    assert iso_millis(instant) == "2025-04-11T03:43:28.148Z"
    assert iso_nanos(instant).startswith("2025-04-11T03:43:28.148")
    assert iso_nanos(instant).endswith("000Z") and len(iso_nanos(instant)) == len(
        "2023-12-06T18:28:14.206824830Z"
    )


# The formats cut a timestamp as `datetime.fromtimestamp` does (half to even, at microseconds),
# whatever the instant: before 1970, at a microsecond's half, up to the year 9999.
@given(st.floats(min_value=-62_000_000_000, max_value=253_402_300_799, allow_nan=False))
@example(0.9999995)
@example(1.0000005)
@example(-0.0000005)
@example(1_700_000_000.9999996)
@example(-1.5)
def test_wise_timestamp_formats_are_datetimes_own(instant: float) -> None:
    moment = datetime.fromtimestamp(instant, UTC)
    assert iso_millis(instant) == moment.isoformat(timespec="milliseconds")[:-6] + "Z"
    assert iso_nanos(instant) == moment.isoformat(timespec="microseconds")[:-6] + "000Z"


@given(st.floats(allow_nan=False))
@example(1796689218.3338711)
@example(253_402_300_799.999999)
@example(1e300)
@example(5e-324)
def test_an_instant_reads_back_as_the_very_float_written(instant: float) -> None:
    """Whole microseconds when the float is one (the journal's instants always are), the float
    itself otherwise: through JSON and back, the same float, either way."""
    back = instant_from_data(json.loads(json.dumps(instant_data(instant))))
    assert back == instant and type(back) is float


@given(st.floats(min_value=0, max_value=253_402_300_799))
def test_an_instant_to_the_microsecond_is_written_as_an_integer(instant: float) -> None:
    micros = to_micros(instant)
    assert abs(micros - instant) <= 5e-7 + abs(instant) * 2**-52 and to_micros(micros) == micros
    assert type(instant_data(micros)) is int


@pytest.mark.parametrize("data", ["1", None, True, [], 10**400])
def test_an_instant_that_is_not_one_is_refused(data: object) -> None:
    with pytest.raises((TypeError, OverflowError)):
        instant_from_data(data)
