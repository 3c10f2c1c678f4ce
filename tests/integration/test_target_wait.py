"""A pool with target_wait keeps the spares its history calls for: none while it is quiet,
more once its event log shows the hour's demand, back to the floor when demand goes.

Time is the service's injected clock; the history is written as the events a server
writes when it serves tickets and runs cmd_new.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tests.integration.inprocess import app_of, call

from lessor.domain import events
from lessor.domain.events import Event, EventFilter
from lessor.domain.kinds import EventKind as K
from lessor.domain.model import Pool, Tag
from lessor.planner.actions import Start
from lessor.planner.plan import plan
from lessor.server import MEMORY, Parts, build

MONDAY = 1_799_020_800.0
"""2027-01-04 00:00 UTC."""
POOL = Pool(
    "cloud",
    tags=(Tag("x"),),
    max=40,
    max_starting=40,
    max_prealloc=12,
    min_prealloc=1,
    target_wait_p95=30.0,
    cost_per_hour=0.12,
)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "sqlite"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return MEMORY if request.param == "memory" else f"sqlite:///{tmp_path / 'lessor.sqlite'}"


def starts_planned(parts: Parts) -> int:
    return sum(1 for a in plan(parts.service.snapshot()).actions if isinstance(a, Start))


def served(parts: Parts, opened: list[float], start_time: float) -> None:
    """Tickets opened at these times, each assigned after waiting, and the replacements
    started for them, up `start_time` later."""
    batch = []
    for i, at in enumerate(opened):
        batch.append(events.ticket_assigned(i + 1, at, i + 1, POOL.name, f"r{i}", at + 5.0))
        batch.append(Event(K.RESOURCE_CREATED, at, resource_id=100 + i, pool=POOL.name))
        batch.append(Event(K.RESOURCE_UP, at + start_time, resource_id=100 + i, pool=POOL.name))
    parts.store.record_events(batch)


def test_spares_follow_the_hour_the_history_forecasts(url: str, tmp_path: Path) -> None:
    clock = Clock(MONDAY + 8 * 3600)
    parts = build(url, (POOL,), clock=clock)
    service, run = parts.service, parts.executor.call
    run(service.remember_pools)
    assert starts_planned(parts) == POOL.max_prealloc  # not yet sized: max_prealloc

    (quiet,) = run(service.size_spares)
    assert quiet.sizing.spares == POOL.min_prealloc  # no history: the floor
    assert starts_planned(parts) == 1

    # The last hour brought a ticket a minute; cmd_new takes two minutes.
    served(parts, [clock.now - 3600 + 60 * i for i in range(60)], 120.0)
    clock.now += 600
    (busy,) = run(service.size_spares)
    assert busy.changed and busy.sizing.met
    assert busy.sizing.spares > 1 and busy.sizing.fewer_p95_wait is not None
    assert busy.sizing.fewer_p95_wait > 30.0 >= busy.sizing.p95_wait
    assert starts_planned(parts) == busy.sizing.spares
    (pool,) = service.effective_pools()
    assert pool.spares_reason.startswith(f"p95 wait {busy.sizing.p95_wait:.0f} s forecast")
    assert "spares cost" in pool.spares_reason
    status, answer = asyncio.run(call(app_of(parts, tmp_path), "GET", "/api/v1/pools", [b""]))
    assert status == 200
    (shown,) = answer
    assert (shown["spares"], shown["target_wait_p95"], shown["cost_per_hour"]) == (
        busy.sizing.spares,
        30.0,
        0.12,
    )
    assert shown["spares_reason"] == pool.spares_reason

    # An hour without tickets: back to the floor; each change is one pool.spares event.
    clock.now += 2 * 3600
    (after,) = run(service.size_spares)
    assert after.sizing.spares == 1
    changes = parts.store.list_events(EventFilter(pool=POOL.name, kinds=(K.POOL_SPARES,)))
    assert [e.details["spares"] for e in changes] == [1, busy.sizing.spares, 1]
    parts.close()


def test_a_tags_target_sizes_its_pools_as_one_stock_cheapest_first(
    url: str, tmp_path: Path
) -> None:
    fedora = {"tags": (Tag("fedora"),), "target_tag": "fedora", "min_prealloc": 0}
    cheap = POOL.evolve(name="cheap", max_prealloc=2, cost_per_hour=0.1, **fedora)
    dear = cheap.evolve(name="dear", max_prealloc=20, cost_per_hour=1.0)
    clock = Clock(MONDAY + 8 * 3600)
    parts = build(url, (cheap, dear), clock=clock)
    service, run = parts.service, parts.executor.call
    run(service.remember_pools)
    # A ticket a minute over both pools; cmd_new takes two minutes.
    batch = []
    for i in range(60):
        at, pool = clock.now - 3600 + 60 * i, ("cheap", "dear")[i % 2]
        batch.append(events.ticket_assigned(i + 1, at, i + 1, pool, f"r{i}", at + 5.0))
        batch.append(Event(K.RESOURCE_CREATED, at, resource_id=100 + i, pool=pool))
        batch.append(Event(K.RESOURCE_UP, at + 120.0, resource_id=100 + i, pool=pool))
    parts.store.record_events(batch)
    got = {s.pool: s for s in run(service.size_spares)}
    stock = got["cheap"].sizing
    assert stock.met and stock.spares > 2  # more than the cheap pool alone may keep
    assert got["cheap"].sizing == got["dear"].sizing  # one forecast, one stock
    assert (got["cheap"].spares, got["dear"].spares) == (2, stock.spares - 2)
    assert starts_planned(parts) == stock.spares
    reasons = {p.name: p.spares_reason for p in service.effective_pools()}
    assert reasons["dear"].startswith("tag fedora over cheap, dear: p95 wait")
    assert f"; {stock.spares - 2} here" in reasons["dear"]
    assert f"spares cost {2 * 0.1 + (stock.spares - 2) * 1.0:g}/h" in reasons["dear"]
    parts.close()
