"""Sandbox reuse: released resources serve later tickets of their sandbox, within limits."""

from __future__ import annotations

from tests.unit.planner_data import NOW, of, pool, res, run, ticket

from lessor.domain.states import ResourceState as R
from lessor.domain.states import TicketState as T
from lessor.planner.actions import Assign, FinishRelease, Recycle, Release, Retire, Start

REUSING = {"reuse_opportunity_time": 120, "reuse_max_count": 2, "reuse_max_time": 3600}


def closed(sandbox: str | None = "s1") -> object:
    return ticket(1, state=T.CLOSED, resource_id=1, sandbox=sandbox)


def recycle_of(p: object, r: object, t: object) -> list[Recycle]:
    return of(run([p], [r], [t]), Recycle)  # type: ignore[list-item]


def test_without_a_sandbox_a_released_resource_is_deleted() -> None:
    r = res(1, R.TAKEN, ticket_id=1)
    assert recycle_of(pool(**REUSING), r, closed(None)) == [Recycle(1, reuse=False)]


def test_with_a_sandbox_and_a_reuse_window_it_is_kept() -> None:
    r = res(1, R.TAKEN, ticket_id=1)
    assert recycle_of(pool(**REUSING), r, closed()) == [Recycle(1, reuse=True)]


def test_without_a_reuse_window_nothing_is_reused_whatever_the_count() -> None:
    r = res(1, R.TAKEN, ticket_id=1)
    p = pool(reuse_opportunity_time=0, reuse_max_count=5)
    assert recycle_of(p, r, closed()) == [Recycle(1, reuse=False)]


def test_reuse_stops_at_reuse_max_count() -> None:
    p = pool(**REUSING)
    assert recycle_of(p, res(1, R.TAKEN, ticket_id=1, releases=1), closed())[0].reuse
    assert not recycle_of(p, res(1, R.TAKEN, ticket_id=1, releases=2), closed())[0].reuse


def test_reuse_stops_at_reuse_max_time() -> None:
    p = pool(**REUSING)
    assert not recycle_of(p, res(1, R.TAKEN, ticket_id=1, age=3600), closed())[0].reuse


def test_a_releasing_resource_runs_cmd_release_if_its_pool_has_one() -> None:
    r = res(1, R.RELEASING, sandbox="s1")
    assert of(run([pool(cmd_release="true", **REUSING)], [r]), Release) == [Release(1)]
    assert of(run([pool(**REUSING)], [r]), FinishRelease) == [FinishRelease(1)]


def test_a_released_resource_is_up_at_once_without_cmd_release() -> None:
    t = closed()
    r = res(1, R.TAKEN, ticket_id=t.id)
    assert recycle_of(pool(**REUSING), r, t) == [Recycle(1, reuse=True, release_hook=False)]
    hooked = pool(cmd_release="true", **REUSING)
    assert recycle_of(hooked, r, t) == [Recycle(1, reuse=True, release_hook=True)]


def test_a_released_resource_goes_only_to_a_ticket_of_its_sandbox() -> None:
    p = pool(max_prealloc=0, **REUSING)
    r = res(1, sandbox="s1", age=10)
    assert of(run([p], [r], [ticket(2)]), Assign) == []
    assert of(run([p], [r], [ticket(2, sandbox="s2")]), Assign) == []
    assert of(run([p], [r], [ticket(2, sandbox="s1")]), Assign) == [Assign(2, 1)]


def test_reuse_in_the_own_sandbox_beats_a_fresh_spare_of_a_cheaper_pool() -> None:
    pools = [pool("dear", **REUSING), pool("cheap", priority=10)]
    resources = [res(1, pool_name="dear", sandbox="s1", age=10), res(2, pool_name="cheap")]
    assert of(run(pools, resources, [ticket(3, sandbox="s1")]), Assign) == [Assign(3, 1)]


def test_an_unused_released_resource_is_deleted_after_the_reuse_window() -> None:
    p = pool(max_prealloc=0, **REUSING)
    waiting = run([p], [res(1, sandbox="s1", age=100)])
    assert of(waiting, Retire) == [] and waiting.wake_at == NOW + 20
    (retired,) = of(run([p], [res(1, sandbox="s1", age=121)]), Retire)
    assert "reuse_opportunity_time" in retired.reason


def test_a_released_resource_older_than_reuse_max_time_is_deleted() -> None:
    p = pool(max_prealloc=0, **REUSING)
    old = res(1, sandbox="s1", created_at=NOW - 4000, state_since=NOW - 5)
    (retired,) = of(run([p], [old]), Retire)
    assert "reuse_max_time" in retired.reason


def test_a_ticket_waits_for_a_resource_being_released_in_its_sandbox() -> None:
    p = pool(max_prealloc=0, start_for_waiting=True, **REUSING)
    plan_ = run([p], [res(1, R.RELEASING, sandbox="s1", age=10)], [ticket(2, sandbox="s1")])
    assert of(plan_, Start) == []
    assert plan_.reasons[2] == "pool p: resource 1 is being released in your sandbox"
    other = run([p], [res(1, R.RELEASING, sandbox="s1", age=10)], [ticket(2, sandbox="s2")])
    assert of(other, Start) == [Start("p")]


def test_a_ticket_counts_on_a_resource_its_sandbox_just_gave_back() -> None:
    p = pool(max_prealloc=0, start_for_waiting=True, **REUSING)
    back = res(1, R.TAKEN, ticket_id=1, sandbox="s1", age=10)
    tickets = [closed(), ticket(2, sandbox="s1")]
    plan_ = run([p], [back], tickets)
    assert of(plan_, Start) == [] and of(plan_, Recycle) == [Recycle(1, reuse=True)]
    assert plan_.reasons[2] == "pool p: resource 1 is being released in your sandbox"
    spent = back.evolve(releases=2)  # reuse_max_count reached: it will be deleted
    assert of(run([p], [spent], tickets), Start) == [Start("p")]
