"""A pool's spares target (target_wait): kept across reloads, an event for each change."""

from __future__ import annotations

from lessor.domain.events import EventFilter
from lessor.domain.kinds import EventKind as K
from lessor.domain.model import Pool, Tag
from lessor.store.interface import Store

NOW = 1_800_000_000.0


def test_a_spares_target_survives_a_reload_and_each_change_is_one_event(store: Store) -> None:
    pool = Pool("aws", tags=(Tag("x"),), max_prealloc=8, target_wait_p95=30.0)
    store.save_pool_definitions([pool], NOW)
    assert store.set_spares_target("aws", 4, "p95 wait 28 s forecast with 4 spares", NOW)
    assert not store.set_spares_target(
        "aws", 4, "p95 wait 27 s forecast with 4 spares", NOW + 1, wait=27.25
    )
    store.save_pool_definitions([pool.evolve(max=9)], NOW + 2)
    (saved,) = store.stored_pools()
    assert (saved.spares_target, saved.spares_reason) == (4, "p95 wait 27 s forecast with 4 spares")
    assert saved.spares_wait == 27.25
    assert saved.prealloc == 4
    assert store.set_spares_target("aws", 1, "quiet hour", NOW + 3)
    changes = store.list_events(EventFilter(pool="aws", kinds=(K.POOL_SPARES,)))
    assert [(e.details["was"], e.details["spares"], e.message) for e in changes] == [
        (None, 4, "p95 wait 28 s forecast with 4 spares"),
        (4, 1, "quiet hour"),
    ]
