"""Rate limits (§9): sliding windows on the tenant clock, per client, refused requests not counted."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mockwise._domain.clock import Clock
from mockwise._domain.errors import RateLimited
from mockwise._domain.ratelimit import RateLimiter, RateLimits
from mockwise._domain.sandbox import Sandbox
from mockwise._domain.settings import Settings
from mockwise._domain.tenant import Tenant


def tenant_with(settings: Settings | None = None) -> Tenant:
    return Sandbox().create_tenant(seed=False, settings=settings)[0]


def limiter(settings: Settings | None = None, **changes: object) -> tuple[RateLimiter, Clock]:
    tenant = tenant_with(settings)
    tenant.clock.freeze()
    tenant.rate_limits.configure(enabled=True, **changes)
    return tenant.rate_limits, tenant.clock


def admitted(limits: RateLimiter, client: str = "c") -> bool:
    try:
        limits.check(client, None)
    except RateLimited:
        return False
    return True


def test_off_by_default() -> None:
    limits = tenant_with().rate_limits
    assert limits.settings == RateLimits(enabled=False, per_second=100, per_minute=1000)
    for _ in range(2000):
        limits.check("c", None)


def test_wise_defaults_100_a_second_then_retry_after_one_second() -> None:
    limits, clock = limiter()
    assert all(admitted(limits) for _ in range(100))
    with pytest.raises(RateLimited) as refused:
        limits.check("c", None)
    assert refused.value.status == 429 and refused.value.retry_after == 1
    assert refused.value.headers == {"Retry-After": "1", "X-Rate-Limited-By": "wise-public-api"}
    clock.advance(0.999)
    assert not admitted(limits)
    clock.advance(0.001)
    assert admitted(limits)


def test_the_minute_window_and_its_retry_after() -> None:
    limits, clock = limiter(per_second=5, per_minute=8)
    assert [admitted(limits) for _ in range(6)] == [True] * 5 + [False]
    clock.advance(1)
    assert [admitted(limits) for _ in range(4)] == [True] * 3 + [False]
    with pytest.raises(RateLimited) as refused:
        limits.check("c", None)
    assert refused.value.retry_after == 59  # the first request leaves the minute window at t0 + 60
    clock.advance(59)
    assert [admitted(limits) for _ in range(6)] == [True] * 5 + [False]


def test_honouring_retry_after_is_always_enough() -> None:
    limits, clock = limiter(per_second=3, per_minute=10)
    served = 0
    for _ in range(40):
        try:
            limits.check("c", None)
            served += 1
        except RateLimited as refused:
            clock.advance(refused.retry_after)
            limits.check("c", None)  # never refused right after waiting as told
            served += 1
    assert served == 40


def test_clients_are_counted_apart_unless_the_tenant_is_the_scope() -> None:
    limits, _ = limiter(per_second=2)
    assert [admitted(limits, "a"), admitted(limits, "a"), admitted(limits, "a")] == [True, True, False]
    assert admitted(limits, "b")
    limits.check(None, 7)  # a personal token: counted per user
    limits.check(None, 7)
    with pytest.raises(RateLimited):
        limits.check(None, 7)
    shared, _ = limiter(Settings().apply({"rate_limits.scope": "tenant"}), per_second=2)
    assert [admitted(shared, "a"), admitted(shared, "b"), admitted(shared, "c")] == [True, True, False]


def test_retry_after_can_be_left_out() -> None:
    limits, _ = limiter(Settings().apply({"rate_limits.retry_after": False}), per_second=1, limited_by="edge")
    limits.check("c", None)
    with pytest.raises(RateLimited) as refused:
        limits.check("c", None)
    assert refused.value.headers == {"X-Rate-Limited-By": "edge"}


def test_a_clock_moved_back_starts_afresh() -> None:
    limits, clock = limiter(per_second=1)
    limits.check("c", None)
    clock.advance(-3600)
    limits.check("c", None)


@pytest.mark.parametrize(
    "bad",
    [{"per_second": 0}, {"per_minute": -1}, {"per_second": True}, {"per_second": 1.5}, {"enabled": "yes"},
     {"limited_by": ""}, {"burst": 3}],
)  # fmt: skip
def test_bad_settings_are_refused(bad: dict[str, object]) -> None:
    limits = tenant_with().rate_limits
    with pytest.raises(ValueError):
        limits.configure(**bad)
    assert limits.settings == RateLimits()


def test_reset_returns_to_the_seeded_settings_and_forgets_counts() -> None:
    tenant = tenant_with()
    tenant.clock.freeze()
    limits = tenant.rate_limits
    limits.configure(enabled=True, per_second=1)
    tenant.mark_seeded()
    limits.check("c", None)
    limits.configure(per_second=5)
    tenant.reset()
    assert limits.settings.per_second == 1
    limits.check("c", None)  # the count was forgotten
    assert limits.usage() == {"c": {"last_second": 1, "last_minute": 1}}


@given(
    gaps=st.lists(st.sampled_from([0.0, 0.001, 0.01, 0.1, 0.3, 0.5, 1.0, 7.0, 30.0, 61.0]), max_size=120),
    per_second=st.integers(1, 6),
    per_minute=st.integers(1, 20),
)
def test_matches_a_brute_force_sliding_window(gaps: list[float], per_second: int, per_minute: int) -> None:
    """A request is served exactly when fewer than `limit` served requests lie in the last `span`
    seconds, for both windows; so no window of either span ever holds more than its limit."""
    limits, clock = limiter(per_second=per_second, per_minute=per_minute)
    served: list[float] = []
    for gap in gaps:
        now = clock.advance(gap)
        expected = (
            sum(t > now - 1 for t in served) < per_second and sum(t > now - 60 for t in served) < per_minute
        )
        assert admitted(limits) == expected
        if expected:
            served.append(now)


def test_racing_threads_never_exceed_the_limit() -> None:
    limits, _ = limiter(per_second=250, per_minute=1000)
    served: list[bool] = []
    barrier = threading.Barrier(4)

    def burst() -> None:
        barrier.wait()
        mine = [admitted(limits) for _ in range(200)]
        served.extend(mine)

    threads = [threading.Thread(target=burst) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert served.count(True) == 250 and len(served) == 800


@pytest.mark.parametrize("bad", ["line\nbreak", "naïve", "x" * 101])
def test_limited_by_must_be_a_safe_header_value(bad: str) -> None:
    with pytest.raises(ValueError, match="header"):
        tenant_with().rate_limits.configure(limited_by=bad)
