"""Hold (one resource kept aside for diagnosis) and drain (a pool winds down)."""

from __future__ import annotations

from tests.unit.planner_data import NOW, of, pool, res, run, starts, ticket

from lessor.domain.model import Pool
from lessor.domain.states import ResourceState as R
from lessor.domain.states import TicketState as T
from lessor.planner.actions import (
    Assign,
    Delete,
    FailTicket,
    Livecheck,
    Recycle,
    Release,
    Retire,
    Start,
)

HOLD = "kernel panic, looking at it"


def untouched(plan_: object, rid: int) -> bool:
    kinds = (Assign, Retire, Delete, Livecheck, Recycle)
    return not any(
        getattr(a, "resource_id", None) == rid and isinstance(a, kinds)
        for a in plan_.actions  # type: ignore[attr-defined]
    )


def test_a_held_spare_is_never_handed_out_and_a_replacement_starts() -> None:
    p = pool(max=4, max_starting=2, max_prealloc=1, cmd_livecheck="check", livecheck_period=1)
    plan_ = run([p], [res(1, hold_reason=HOLD)], [ticket(1)])
    assert untouched(plan_, 1)
    assert starts(plan_)["p"] == 1  # the spare the held one no longer is
    assert plan_.reasons[1] == "pool p: starting a spare (max_prealloc)"


def test_a_held_resource_is_never_deleted_whatever_would_retire_it() -> None:
    p = pool(max_prealloc=0, idle_time=0, reuse_opportunity_time=1, drained=True)
    resources = [
        res(1, hold_reason=HOLD, age=9999),
        res(2, hold_reason=HOLD, sandbox="s", age=9999),
        res(3, R.DELETE_REQUESTED, hold_reason=HOLD, next_attempt_at=0),
    ]
    plan_ = run([p], resources)
    assert all(untouched(plan_, rid) for rid in (1, 2, 3))


def test_a_held_resource_outlives_its_ticket_until_the_hold_is_released() -> None:
    r = res(1, R.TAKEN, ticket_id=1, hold_reason=HOLD)
    t = ticket(1, state=T.CLOSED, resource_id=1)
    assert of(run([pool()], [r], [t]), Recycle) == []
    assert of(run([pool()], [r.evolve(hold_reason=None)], [t]), Recycle) == [Recycle(1, False)]


def test_held_resources_count_against_max() -> None:
    p = pool(max=2, max_prealloc=2, max_starting=2)
    assert starts(run([p], [res(1, hold_reason=HOLD), res(2, hold_reason=HOLD)]))["p"] == 0


def drained(**kw: object) -> Pool:
    return pool("p", max_prealloc=2, drained=True, drain_reason="maintenance", **kw)


def test_a_drained_pool_starts_nothing_not_even_for_a_waiting_ticket() -> None:
    plan_ = run([drained()], [], [ticket(1)])
    assert of(plan_, Start) == []
    assert plan_.reasons[1] == "pool p: drained (maintenance)"


def test_a_drained_pools_spares_are_deleted_not_handed_out() -> None:
    plan_ = run([drained()], [res(1), res(2)], [ticket(1)])
    assert of(plan_, Assign) == []
    assert sorted(a.resource_id for a in of(plan_, Retire)) == [1, 2]


def test_a_drained_pools_assigned_resources_stay_until_their_tickets_close() -> None:
    r = res(1, R.TAKEN, ticket_id=1)
    open_ = run([drained()], [r], [ticket(1, state=T.ASSIGNED, resource_id=1)])
    assert untouched(open_, 1)
    closed = ticket(1, state=T.CLOSED, resource_id=1, sandbox="s")
    reusing = drained(reuse_opportunity_time=100)
    assert of(run([reusing], [r], [closed]), Recycle) == [Recycle(1, reuse=False)]


def test_a_drained_pool_still_finishes_releases_and_deletions() -> None:
    resources = [res(1, R.RELEASING, sandbox="s"), res(2, R.DELETE_REQUESTED, next_attempt_at=0)]
    plan_ = run([drained(cmd_release="true", cmd_delete="true")], resources)
    assert of(plan_, Release) == [Release(1)] and of(plan_, Delete) == [Delete(2, hook=True)]


def test_tickets_go_to_another_pool_while_one_is_drained() -> None:
    pools = [drained(priority=10), pool("q", max_prealloc=1)]
    plan_ = run(pools, [], [ticket(1)])
    assert of(plan_, Start) == [Start("q")]
    assert plan_.reasons[1] == "pool q: starting a spare (max_prealloc)"
    plan_ = run(pools, [res(1, R.STARTING, pool_name="q")], [ticket(1), ticket(2)])
    assert plan_.reasons[2] == (
        "pool p: drained (maintenance); pool q: 1 spare kept (max_prealloc), all taken; "
        "1 ahead of you in the queue"
    )


def test_undrained_the_pool_works_as_before() -> None:
    plan_ = run([drained().evolve(drained=False)], [res(1)], [ticket(1)])
    assert of(plan_, Assign) == [Assign(1, 1)]


def test_a_removed_pool_winds_down_and_its_tickets_wait_for_another() -> None:
    gone = pool("old", "legacy", removed=True, drained=True)
    resources = [res(1, pool_name="old", tags=("legacy",)), res(2, R.STARTING, pool_name="old")]
    plan_ = run([gone, pool("p")], resources, [ticket(5, "legacy")])
    assert of(plan_, FailTicket) == [] and of(plan_, Assign) == []
    assert plan_.reasons[5] == "pool old: removed from pools.yaml"
    assert [a.resource_id for a in of(plan_, Retire)] == [1]
    assert starts(plan_)["old"] == 0


def test_a_waiting_ticket_is_not_failed_because_its_only_pool_is_drained() -> None:
    plan_ = run([drained()], [], [ticket(1)], now=NOW)
    assert of(plan_, FailTicket) == []
