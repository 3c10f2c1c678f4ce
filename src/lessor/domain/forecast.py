"""Target-wait sizing: how many spares the coming hour needs, from what a pool has seen.

Pure: its inputs are a snapshot of the learned statistics (arrival times, cmd_new
durations, hold times) and its output a number with the words that explain it.

The model (see docs/target-wait.md for the argument and its limits): every ticket
that takes a spare makes the pool start a replacement, which is ready `D` seconds
later (D: the p95 of cmd_new's duration). With tickets arriving as a Poisson
process of rate λ, the starts in flight at any instant are the arrivals of the last
D seconds, N ~ Poisson(λD), and their remaining times are independent and uniform
on (0, D) (an M/D/∞ system). A ticket finds a ready spare when N < s; otherwise it
waits for the (N - s + 1)-th of those starts to finish. So

    P(wait > w) = Σ_{n ≥ s} P(N = n) · P(Binomial(n, w/D) < n - s + 1)

which is exact for the model, costs microseconds, and is monotone in s and w, so the
smallest s meeting a p95 target is found by counting up from the floor.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

HOUR = 3600.0
WEEK = 7 * 24 * HOUR
HOURS_OF_WEEK = 168
_MONDAY = 72
"""The epoch (1970-01-01) was a Thursday: 72 hours after a Monday 00:00 UTC."""
RECENT = HOUR
"""The window of the fallback rate, while the log holds less than a week."""


def hour_of_week(t: float) -> int:
    """0 is Monday 00:00-01:00 UTC, 167 Sunday 23:00-24:00."""
    return (int(t // HOUR) + _MONDAY) % HOURS_OF_WEEK


def quantile(values: Sequence[float], q: float) -> float:
    """The nearest-rank q-quantile (0 for no values): a value that was really seen."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Learned:
    """What a pool's event log says, read over [since, now)."""

    now: float
    since: float
    """The start of the history read (the oldest event there is, or the window's start)."""
    arrivals: tuple[float, ...]
    """When each ticket the pool served was opened."""
    start_durations: tuple[float, ...]
    """Seconds of each successful cmd_new."""
    hold_times: tuple[float, ...]
    """Seconds from assignment to close of each ticket."""


def merged(parts: Sequence[Learned]) -> Learned:
    """What several pools saw, as one stock: a tag's target sizes them together."""
    return Learned(
        now=max(p.now for p in parts),
        since=min(p.since for p in parts),
        arrivals=tuple(t for p in parts for t in p.arrivals),
        start_durations=tuple(d for p in parts for d in p.start_durations),
        hold_times=tuple(h for p in parts for h in p.hold_times),
    )


@dataclass(frozen=True)
class Forecast:
    """The demand expected in the hour starting at `hour_start`, and how it was made."""

    hour_start: float
    rate_per_hour: float
    basis: str
    """"hour of the week over N weeks" or "the last hour (less than a week of history)"."""
    start_p50: float
    start_p95: float
    hold_p50: float


def forecast(learned: Learned, hour_start: float) -> Forecast:
    """The arrival rate of the hour starting at `hour_start`.

    With a week of history or more, the mean of the same hour of the week over the
    whole weeks seen; before that, the rate of the last hour.
    """
    weeks = int((learned.now - learned.since) // WEEK)
    if weeks >= 1:
        count = 0
        for back in range(1, weeks + 1):
            start = hour_start - back * WEEK
            count += sum(1 for t in learned.arrivals if start <= t < start + HOUR)
        rate = count / weeks
        basis = f"hour of the week over {weeks} week{'' if weeks == 1 else 's'}"
    else:
        recent = min(RECENT, max(learned.now - learned.since, 1.0))
        count = sum(1 for t in learned.arrivals if learned.now - recent <= t < learned.now)
        rate = count * HOUR / recent
        basis = "the last hour (less than a week of history)"
    return Forecast(
        hour_start=hour_start,
        rate_per_hour=rate,
        basis=basis,
        start_p50=quantile(learned.start_durations, 0.5),
        start_p95=quantile(learned.start_durations, 0.95),
        hold_p50=quantile(learned.hold_times, 0.5),
    )


def _poisson(a: float) -> list[float]:
    """P(N = n) for n = 0.. until the tail is negligible."""
    top = int(a + 12 * math.sqrt(a) + 30)
    probs = [math.exp(-a)]
    for n in range(1, top + 1):
        probs.append(probs[-1] * a / n)
    return probs


def _binomial_below(n: int, p: float, k: int) -> float:
    """P(Binomial(n, p) < k)."""
    if k <= 0:
        return 0.0
    if k > n or p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 0.0
    total = 0.0
    term = (1.0 - p) ** n
    for i in range(k):
        total += term
        term *= (n - i) / (i + 1) * p / (1.0 - p)
    return min(total, 1.0)


def wait_beyond(spares: int, rate_per_hour: float, start_time: float, w: float) -> float:
    """P(a ticket waits more than w seconds) with `spares` kept, in the model above."""
    if w < 0:
        return 1.0
    if rate_per_hour <= 0 or start_time <= 0 or w >= start_time:
        return 0.0
    probs = _poisson(rate_per_hour / HOUR * start_time)
    p = w / start_time
    return sum(probs[n] * _binomial_below(n, p, n - spares + 1) for n in range(spares, len(probs)))


def wait_quantile(spares: int, rate_per_hour: float, start_time: float, q: float = 0.95) -> float:
    """The q-quantile of the wait, in seconds: the least w with P(wait > w) <= 1 - q."""
    miss = 1.0 - q
    if wait_beyond(spares, rate_per_hour, start_time, 0.0) <= miss:
        return 0.0
    low, high = 0.0, start_time
    for _ in range(40):
        mid = (low + high) / 2
        if wait_beyond(spares, rate_per_hour, start_time, mid) <= miss:
            high = mid
        else:
            low = mid
    return high


@dataclass(frozen=True)
class Sizing:
    """The spares chosen for an hour, and why."""

    spares: int
    p95_wait: float
    """The forecast p95 wait with `spares`."""
    fewer_p95_wait: float | None
    """The forecast p95 wait with one spare fewer (None at the floor)."""
    met: bool
    """Whether `spares` meets the target (it may not even at the ceiling)."""
    reason: str


def size(target_p95: float, fc: Forecast, floor: int, ceiling: int) -> Sizing:
    """The smallest number of spares in [floor, ceiling] whose forecast p95 wait meets the
    target; the ceiling if none does (bursts beyond it are served on demand)."""
    ceiling = max(floor, ceiling)
    start = fc.start_p95

    def p95(s: int) -> float:
        return wait_quantile(s, fc.rate_per_hour, start)

    def meets(s: int) -> bool:  # p95 <= target, without searching for the p95 itself
        return wait_beyond(s, fc.rate_per_hour, start, target_p95) <= 0.05

    spares = floor
    while not meets(spares) and spares < ceiling:
        spares += 1
    met = meets(spares)
    wait = min(p95(spares), target_p95) if met else p95(spares)  # the search's last bit
    fewer = p95(spares - 1) if spares > floor else None
    why = f"p95 wait {wait:.0f} s forecast with {spares} spare{'' if spares == 1 else 's'}"
    if fewer is not None:
        why += f"; {spares - 1} would give {fewer:.0f} s"
    elif spares == floor and floor:
        why += " (min_prealloc)"
    if not met:
        why += f"; target {target_p95:g} s not met within max_prealloc {ceiling}"
    why += f" ({fc.rate_per_hour:.1f} tickets/h from {fc.basis}; cmd_new p95 {fc.start_p95:.0f} s)"
    return Sizing(spares, wait, fewer, met, why)


@dataclass(frozen=True)
class Share:
    """One pool of a tag's stock: the bounds of its spares and what they cost."""

    pool: str
    floor: int
    ceiling: int
    cost_per_hour: float
    priority: int


def share(spares: int, parts: Sequence[Share]) -> dict[str, int]:
    """`spares` split over the pools of a tag: each its floor, the rest cheapest first.

    Cheapest is the lowest cost_per_hour, then the highest priority (the pool the
    planner hands out and starts first), then the name, so the split is stable
    from one sizing to the next; no pool gets more than its ceiling.
    """
    got = {p.pool: p.floor for p in parts}
    left = spares - sum(got.values())
    for p in sorted(parts, key=lambda p: (p.cost_per_hour, -p.priority, p.pool)):
        more = max(0, min(left, p.ceiling - got[p.pool]))
        got[p.pool] += more
        left -= more
    return got
