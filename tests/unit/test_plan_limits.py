"""The core allocation rules with plain data: limits, preallocation, matching."""

from __future__ import annotations

from collections import Counter

from tests.unit.planner_data import with_hooks

from lessor.domain.model import Pool, Resource, Snapshot, Tag, Ticket
from lessor.domain.states import ResourceState as R
from lessor.domain.states import TicketState as T
from lessor.planner.actions import Assign, Delete, FailTicket, Livecheck, Plan, Recycle, Start
from lessor.planner.plan import plan

NOW = 1_000_000.0


def pool(name: str = "p", *tags: str, **kw: object) -> Pool:
    return Pool(name=name, tags=tuple(Tag(t) for t in (tags or ("x",))), **kw)  # type: ignore[arg-type]


def res(
    rid: int, state: R = R.UP, pool_name: str = "p", tags: tuple[str, ...] = ("x",), **kw: object
) -> Resource:
    return Resource(
        id=rid,
        pool=pool_name,
        name=f"{pool_name}_{rid}",
        state=state,
        tags=tags,
        id_in_pool=rid,
        created_at=NOW - 100,
        state_since=NOW - 100,
        **kw,
    )  # type: ignore[arg-type]


def ticket(tid: int, *tags: str, state: T = T.OPEN, **kw: object) -> Ticket:
    return Ticket(id=tid, tags=tags or ("x",), state=state, created_at=NOW - 10 + tid, **kw)  # type: ignore[arg-type]


def run(
    pools: list[Pool],
    resources: list[Resource] = (),
    tickets: list[Ticket] = (),  # type: ignore[assignment]
    busy: frozenset[int] = frozenset(),
) -> Plan:
    return plan(Snapshot(NOW, tuple(pools), with_hooks(resources, busy), tuple(tickets)))


def starts(p: Plan) -> Counter[str]:
    return Counter(a.pool for a in p.actions if isinstance(a, Start))


def of(p: Plan, kind: type) -> list[object]:
    return [a for a in p.actions if isinstance(a, kind)]


def test_an_empty_pool_starts_its_spares_but_no_more_than_max_starting_at_once() -> None:
    assert starts(run([pool(max=10, max_prealloc=5, max_starting=2)]))["p"] == 2
    assert starts(run([pool(max=10, max_prealloc=5, max_starting=9)]))["p"] == 5


def test_spares_count_starting_ones_so_nothing_is_started_twice() -> None:
    p = pool(max=10, max_prealloc=3, max_starting=5)
    assert starts(run([p], [res(1, R.STARTING), res(2, R.UP)]))["p"] == 1
    assert starts(run([p], [res(1, R.STARTING), res(2, R.UP), res(3, R.UP)]))["p"] == 0


def test_never_more_than_max_alive_whatever_the_demand() -> None:
    p = pool(max=3, max_prealloc=2, max_starting=10)
    taken = [res(i, R.TAKEN, ticket_id=i) for i in (1, 2)]
    tickets = [ticket(i, state=T.ASSIGNED, resource_id=i) for i in (1, 2)]
    tickets += [ticket(i) for i in range(3, 20)]
    assert starts(run([p], [*taken, res(3, R.DELETE_REQUESTED)], tickets))["p"] == 0
    assert starts(run([p], taken, tickets))["p"] == 1


def test_as_resalloc_a_pool_starts_only_its_spares_whoever_waits() -> None:
    p = pool(max=10, max_prealloc=2, max_starting=10)
    plan_ = run([p], [], [ticket(1), ticket(2), ticket(3)])
    assert starts(plan_)["p"] == 2
    assert plan_.reasons[1] == "pool p: starting a spare (max_prealloc)"
    assert (
        plan_.reasons[3]
        == "pool p: 2 spares kept (max_prealloc), all taken; 2 ahead of you in the queue"
    )
    starting = [res(i, R.STARTING) for i in (1, 2)]
    assert starts(run([p], starting, [ticket(1), ticket(2), ticket(3)]))["p"] == 0
    paused = pool(max=10, max_prealloc=0, max_starting=10)  # resalloc's way to pause a pool
    assert starts(run([paused], [], [ticket(1)]))["p"] == 0


def test_with_start_for_waiting_waiting_tickets_get_resources_started_beyond_the_spares() -> None:
    p = pool(max=10, max_prealloc=1, max_starting=10, start_for_waiting=True)
    plan_ = run([p], [], [ticket(1), ticket(2), ticket(3)])
    assert starts(plan_)["p"] == 4  # three for the tickets and the one warm spare


def test_a_ready_spare_is_assigned_to_the_oldest_ticket_first() -> None:
    plan_ = run([pool()], [res(1)], [ticket(2), ticket(1)])
    assert of(plan_, Assign) == [Assign(1, 1)]


def test_higher_priority_ticket_is_served_before_an_older_one() -> None:
    plan_ = run([pool()], [res(1)], [ticket(1), ticket(2, priority=5)])
    assert of(plan_, Assign) == [Assign(2, 1)]


def test_a_resource_must_have_every_requested_tag() -> None:
    pools = [pool("a", "x"), pool("b", "x", "gpu")]
    resources = [res(1, pool_name="a", tags=("x",)), res(2, pool_name="b", tags=("x", "gpu"))]
    assert of(run(pools, resources, [ticket(1, "x", "gpu")]), Assign) == [Assign(1, 2)]


def test_tag_priority_picks_the_pool_resalloc_would() -> None:
    pools = [Pool("cheap", tags=(Tag("x", 10),)), Pool("dear", tags=(Tag("x", 0),))]
    resources = [res(1, pool_name="dear"), res(2, pool_name="cheap")]
    assert of(run(pools, resources, [ticket(1)]), Assign) == [Assign(1, 2)]


def test_a_ticket_no_pool_could_serve_waits_naming_the_tag() -> None:
    """As resalloc: a later pools.yaml may add a pool for it."""
    plan_ = run([pool("a", "x")], [], [ticket(1, "x", "nosuch")])
    assert not of(plan_, FailTicket) and not of(plan_, Assign)
    assert plan_.reasons[1] == "no pool provides tag 'nosuch'"


def test_tags_split_across_pools_are_unservable() -> None:
    plan_ = run([pool("a", "x"), pool("b", "y")], [], [ticket(1, "x", "y")])
    assert plan_.reasons[1] == "no pool provides 'x', 'y'" and not of(plan_, FailTicket)


def test_a_resource_with_a_hook_in_flight_is_neither_assigned_nor_checked() -> None:
    p = pool(cmd_livecheck="true", livecheck_period=1)
    plan_ = run([p], [res(1)], [ticket(1)], busy=frozenset({1}))
    assert not of(plan_, Assign) and not of(plan_, Livecheck)


def test_a_closed_ticket_sends_its_resource_to_deletion_without_a_sandbox() -> None:
    plan_ = run([pool()], [res(1, R.TAKEN, ticket_id=1)], [ticket(1, state=T.CLOSED)])
    assert of(plan_, Recycle) == [Recycle(1, reuse=False)]


def test_delete_waits_for_its_retry_time() -> None:
    later = res(1, R.DELETE_REQUESTED, next_attempt_at=NOW + 30)
    assert not of(run([pool(max_prealloc=0)], [later]), Delete)
    assert run([pool(max_prealloc=0)], [later]).wake_at == NOW + 30
    due = res(1, R.DELETE_REQUESTED, next_attempt_at=NOW - 1)
    assert of(run([pool(max_prealloc=0)], [due]), Delete) == [Delete(1)]


def test_livecheck_runs_when_its_period_is_due_and_wakes_the_loop_for_it() -> None:
    p = pool(cmd_livecheck="true", livecheck_period=60, max_prealloc=1)
    fresh = res(1, last_livecheck=NOW - 10)
    assert not of(run([p], [fresh]), Livecheck)
    assert run([p], [fresh]).wake_at == NOW + 50
    assert of(run([p], [res(1, last_livecheck=NOW - 61)]), Livecheck) == [Livecheck(1)]
