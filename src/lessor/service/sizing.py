"""Sizing spares by target_wait: learn each pool's demand from its event log, set its target.

A mixin of LessorService. Every SIZING_PERIOD the server calls `size_spares`: for
each pool with `target_wait`, it reads the last HISTORY of the log (who was served
and when their tickets opened, how long starts took, how long tickets held their
resource), forecasts the coming hour and writes the smallest number of spares that
meets the target in the model of domain/forecast.py, within min_prealloc and
max_prealloc. The planner keeps that many (planner/upkeep.py:spares_kept); a burst
beyond the forecast is served on demand as before, within `max`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lessor.domain import forecast as fc
from lessor.domain.events import Event, EventFilter
from lessor.domain.kinds import EventKind as K
from lessor.domain.model import Pool
from lessor.service.executor import Executor, writes
from lessor.service.signals import Signals
from lessor.store.interface import Store

log = logging.getLogger(__name__)

SIZING_PERIOD = 600.0
"""Seconds between two sizings: the forecast hour slides by ten minutes each time."""
HISTORY = 4 * fc.WEEK
"""How far back the log is read: four samples of each hour of the week."""
_MOST = 1_000_000
"""Events read per kind and pool at most (a pool serving 10 tickets a minute for 4 weeks)."""


@dataclass(frozen=True)
class Sized:
    """What one sizing decided for a pool."""

    pool: str
    forecast: fc.Forecast
    sizing: fc.Sizing
    """For the pool alone, or for the whole stock of its target tag."""
    spares: int
    """The pool's spares: all of `sizing`'s, or its share of the tag's."""
    changed: bool


def learned(store: Store, pools: Sequence[str], now: float) -> fc.Learned:
    """The statistics of these pools, as one stock, over the last HISTORY of the log.

    The closed tickets are read once for the whole stock (each pool matches them to
    its own assignments by ticket id), not once a pool.
    """
    since = now - HISTORY
    closed = store.list_events(EventFilter(since=since, kinds=(K.TICKET_CLOSED,), limit=_MOST))
    return fc.merged([_learned_of(store, pool, since, now, closed) for pool in pools])


def _learned_of(
    store: Store, pool: str, since: float, now: float, closed: Sequence[Event]
) -> fc.Learned:
    served = store.list_events(
        EventFilter(pool=pool, since=since, kinds=(K.TICKET_ASSIGNED,), limit=_MOST)
    )
    # A start lasts from its resource's row to its UP: cmd_new, and any wait for max_starting.
    lives = store.list_events(
        EventFilter(pool=pool, since=since, kinds=(K.RESOURCE_CREATED, K.RESOURCE_UP), limit=_MOST)
    )
    assigned_at = {e.ticket_id: e.at for e in served if e.ticket_id is not None}
    holds = tuple(
        e.at - assigned_at[e.ticket_id]
        for e in closed
        if e.ticket_id in assigned_at and e.at >= assigned_at[e.ticket_id]
    )
    arrivals = tuple(e.at - float(e.details.get("waited", 0.0)) for e in served)
    created = {e.resource_id: e.at for e in lives if e.kind == K.RESOURCE_CREATED}
    starts = tuple(
        e.at - created[e.resource_id]
        for e in lives
        if e.kind == K.RESOURCE_UP and e.resource_id in created
    )
    seen = [e.at for e in (*served, *lives)]
    oldest = min(seen, default=now)
    return fc.Learned(now, max(since, oldest), arrivals, starts, holds)


class SizingCases:
    store: Store
    signals: Signals
    clock: Callable[[], float]
    effective_pools: Callable[[], tuple[Pool, ...]]

    @writes
    def size_spares(self) -> list[Sized]:
        """Size the spares of every pool with target_wait (its own or its tag's) for the
        coming hour; the pools of one tag as one stock, shared cheapest first."""
        now = self.clock()
        stocks: dict[str, list[Pool]] = {}
        for pool in self.effective_pools():
            if pool.target_wait_p95 is None:
                if pool.spares_target is not None:  # target_wait removed from pools.yaml
                    self.store.set_spares_target(pool.name, None, "", now)
                continue
            if pool.drained or pool.tags_on_demand:
                continue
            key = f"tag {pool.target_tag}" if pool.target_tag else f"pool {pool.name}"
            stocks.setdefault(key, []).append(pool)
        done = []
        for stock in stocks.values():
            done += self._size_stock(stock, now)
        if any(s.changed for s in done):
            self.signals.wake_reconciler()
        return done

    def _size_stock(self, stock: list[Pool], now: float) -> list[Sized]:
        target = stock[0].target_wait_p95
        assert target is not None
        expected = fc.forecast(learned(self.store, [p.name for p in stock], now), now)
        floor = sum(p.min_prealloc for p in stock)
        sizing = fc.size(target, expected, floor, sum(p.max_prealloc for p in stock))
        parts = [
            fc.Share(p.name, p.min_prealloc, p.max_prealloc, p.cost_per_hour, p.priority)
            for p in stock
        ]
        shares = fc.share(sizing.spares, parts)
        cost = sum(shares[p.name] * p.cost_per_hour for p in stock)
        done = []
        for pool in stock:
            why = sizing.reason
            if pool.target_tag:
                names = ", ".join(p.name for p in stock)
                why = f"tag {pool.target_tag} over {names}: {why}; {shares[pool.name]} here"
            if cost:
                why += f"; spares cost {cost:g}/h"
            changed = self.store.set_spares_target(
                pool.name, shares[pool.name], why, now, sizing.p95_wait
            )
            done.append(Sized(pool.name, expected, sizing, shares[pool.name], changed))
        return done


async def keep_sized(executor: Executor, service: SizingCases) -> None:
    """The server's schedule: size the spares now and every SIZING_PERIOD, until cancelled."""
    while True:
        try:
            for s in await executor.run(service.size_spares):
                if s.changed:
                    log.info("pool %s: %d spares: %s", s.pool, s.spares, s.sizing.reason)
        except Exception:  # a failed sizing keeps the last target; the next one retries
            log.exception("sizing spares failed")
        await asyncio.sleep(SIZING_PERIOD)
