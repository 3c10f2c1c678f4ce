"""The target-wait model: the spares chosen are the fewest that meet the target, within
min_prealloc and max_prealloc, and the forecast follows the hour of the week."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from lessor.domain import forecast as fc

MONDAY = 1_799_020_800.0
"""2027-01-04 00:00 UTC, a Monday."""


def a_forecast(rate: float, start_p95: float) -> fc.Forecast:
    return fc.Forecast(MONDAY, rate, "test", start_p95 / 2, start_p95, 600.0)


def test_monday_midnight_is_hour_zero_of_the_week() -> None:
    assert fc.hour_of_week(MONDAY) == 0
    assert fc.hour_of_week(MONDAY + 3599) == 0
    assert fc.hour_of_week(MONDAY - 1) == 167


def test_more_spares_never_wait_longer_and_enough_never_wait() -> None:
    waits = [fc.wait_quantile(s, 60.0, 120.0) for s in range(10)]
    assert waits == sorted(waits, reverse=True)
    assert waits[0] == 120.0  # no spare: every ticket waits a whole cmd_new
    assert waits[-1] == 0.0


@settings(deadline=None)
@given(
    rate=st.floats(0, 400),
    start=st.floats(1, 600),
    target=st.floats(1, 300),
    floor=st.integers(0, 5),
    extra=st.integers(0, 15),
)
def test_the_chosen_spares_are_the_fewest_meeting_the_target_within_floor_and_ceiling(
    rate: float, start: float, target: float, floor: int, extra: int
) -> None:
    ceiling = floor + extra
    chosen = fc.size(target, a_forecast(rate, start), floor, ceiling)
    assert floor <= chosen.spares <= ceiling
    assert chosen.p95_wait == fc.wait_quantile(chosen.spares, rate, start)
    if chosen.met:
        assert chosen.p95_wait <= target
    else:
        assert chosen.spares == ceiling  # not even the ceiling meets it: bursts go on demand
    if chosen.spares > floor:
        assert chosen.fewer_p95_wait is not None
        assert chosen.fewer_p95_wait > target  # one fewer would not do


def test_the_reason_names_the_wait_with_one_spare_fewer() -> None:
    chosen = fc.size(30.0, a_forecast(60.0, 120.0), 0, 10)
    assert chosen.spares == 5
    assert chosen.reason.startswith("p95 wait 2 s forecast with 5 spares; 4 would give 38 s")


def test_a_quiet_hour_keeps_the_floor_and_a_flood_the_ceiling() -> None:
    assert fc.size(30.0, a_forecast(0.0, 120.0), 1, 8).spares == 1
    flood = fc.size(30.0, a_forecast(5000.0, 120.0), 1, 8)
    assert (flood.spares, flood.met) == (8, False)
    assert "not met within max_prealloc 8" in flood.reason


def learned(now: float, since: float, arrivals: list[float]) -> fc.Learned:
    return fc.Learned(now, since, tuple(arrivals), (60.0, 90.0, 120.0), (300.0,))


def test_with_a_week_of_history_the_same_hour_of_last_weeks_is_forecast() -> None:
    now = MONDAY + 2 * fc.WEEK + 9 * fc.HOUR  # a Monday, 9:00
    # Mondays 9-10 had 30 and 50 tickets; the last hour (8-9) had none.
    busy = [MONDAY + w * fc.WEEK + 9 * fc.HOUR + i for w, n in ((0, 30), (1, 50)) for i in range(n)]
    f = fc.forecast(learned(now, MONDAY, busy), now)
    assert f.rate_per_hour == 40.0
    assert f.basis == "hour of the week over 2 weeks"
    assert (f.start_p50, f.start_p95) == (90.0, 120.0)


def test_with_less_than_a_week_the_recent_rate_is_forecast() -> None:
    now = MONDAY + 3 * fc.HOUR
    recent = [now - 60 * i for i in range(1, 21)]  # 20 in the last hour
    f = fc.forecast(learned(now, MONDAY, [MONDAY + 10.0, *recent]), now)
    assert f.rate_per_hour == 20.0
    assert "less than a week" in f.basis


def test_nearest_rank_quantiles_are_values_seen() -> None:
    assert fc.quantile([], 0.95) == 0.0
    assert fc.quantile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert fc.quantile([float(i) for i in range(1, 101)], 0.95) == 95.0


def test_a_tags_stock_is_shared_floors_first_then_cheapest_first() -> None:
    parts = [
        fc.Share("dear", floor=1, ceiling=5, cost_per_hour=2.0, priority=0),
        fc.Share("cheap", floor=0, ceiling=3, cost_per_hour=0.5, priority=0),
        fc.Share("free-low", floor=0, ceiling=2, cost_per_hour=0.0, priority=-1),
        fc.Share("free-high", floor=0, ceiling=2, cost_per_hour=0.0, priority=5),
    ]
    assert fc.share(1, parts) == {"dear": 1, "cheap": 0, "free-low": 0, "free-high": 0}
    assert fc.share(4, parts) == {"dear": 1, "cheap": 0, "free-low": 1, "free-high": 2}
    assert fc.share(8, parts) == {"dear": 1, "cheap": 3, "free-low": 2, "free-high": 2}
    assert fc.share(99, parts) == {"dear": 5, "cheap": 3, "free-low": 2, "free-high": 2}


def test_merged_history_is_every_pools_as_one() -> None:
    a = fc.Learned(100.0, 10.0, (20.0,), (5.0,), (1.0,))
    b = fc.Learned(90.0, 0.0, (30.0, 40.0), (), (2.0,))
    m = fc.merged([a, b])
    assert (m.now, m.since, sorted(m.arrivals), m.start_durations, sorted(m.hold_times)) == (
        100.0,
        0.0,
        [20.0, 30.0, 40.0],
        (5.0,),
        [1.0, 2.0],
    )
