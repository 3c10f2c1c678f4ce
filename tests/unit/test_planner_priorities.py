"""Priorities: the cheapest pool's ready resource wins, new ones start in the cheapest with room."""

from __future__ import annotations

from tests.unit.planner_data import of, pool, res, run, ticket

from lessor.domain.model import Pool, Tag
from lessor.domain.states import ResourceState as R
from lessor.domain.states import TicketState as T
from lessor.planner.actions import Assign, Start


def test_the_ready_resource_of_the_highest_priority_pool_wins() -> None:
    pools = [pool("dear", priority=0), pool("cheap", priority=10)]
    for ids in ((1, 2), (2, 1)):
        resources = [res(ids[0], pool_name="dear"), res(ids[1], pool_name="cheap")]
        assert of(run(pools, resources, [ticket(1)]), Assign) == [Assign(1, ids[1])]


def test_pool_and_tag_priorities_add_up() -> None:
    pools = [pool("a", Tag("x", 0), priority=5), pool("b", Tag("x", 10), priority=0)]
    resources = [res(1, pool_name="a"), res(2, pool_name="b")]
    assert of(run(pools, resources, [ticket(1)]), Assign) == [Assign(1, 2)]


def test_only_the_requested_tags_priorities_count() -> None:
    pools = [
        pool("a", Tag("x", 1), Tag("gpu", 100)),
        pool("b", Tag("x", 2)),
    ]
    resources = [res(1, pool_name="a", tags=("x", "gpu")), res(2, pool_name="b")]
    assert of(run(pools, resources, [ticket(1, "x")]), Assign) == [Assign(1, 2)]
    assert of(run(pools, resources, [ticket(1, "x", "gpu")]), Assign) == [Assign(1, 1)]


def test_equal_rank_goes_to_the_lowest_resource_id() -> None:
    pools = [pool("a"), pool("b")]
    resources = [res(7, pool_name="a"), res(3, pool_name="b"), res(5, pool_name="a")]
    assert of(run(pools, resources, [ticket(1)]), Assign) == [Assign(1, 3)]


WAITING = {"start_for_waiting": True}


def test_new_resources_start_in_the_cheapest_pool_with_room() -> None:
    pools = [
        pool("dear", max_prealloc=0, priority=0, **WAITING),
        pool("cheap", max_prealloc=0, priority=10, **WAITING),
    ]
    assert of(run(pools, [], [ticket(1)]), Start) == [Start("cheap")]


def test_a_full_cheap_pool_sends_new_resources_to_the_next_one() -> None:
    pools = [
        Pool("aws", max=5, max_prealloc=0, tags=(Tag("x"),), priority=0, start_for_waiting=True),
        Pool("local", max=5, max_prealloc=0, tags=(Tag("x"),), priority=10, start_for_waiting=True),
    ]
    busy = [res(i, R.TAKEN, pool_name="local", ticket_id=i) for i in range(1, 6)]
    owners = [ticket(i, state=T.ASSIGNED, resource_id=i) for i in range(1, 6)]
    plan_ = run(pools, busy, [*owners, ticket(9)])
    assert of(plan_, Start) == [Start("aws")]
    assert plan_.reasons[9] == "pool local: 5/5 at max; pool aws: starting 1 for you"


def test_equal_pools_start_in_the_order_of_their_names() -> None:
    """As resalloc orders its on-demand pools: the same whatever the order of pools.yaml."""
    pools = [
        pool("b_second", max_prealloc=0, **WAITING),
        pool("a_first", max_prealloc=0, **WAITING),
    ]
    assert of(run(pools, [], [ticket(1)]), Start) == [Start("a_first")]
    assert of(run(pools[::-1], [], [ticket(1)]), Start) == [Start("a_first")]


def test_the_one_start_left_goes_to_the_higher_priority_ticket_though_younger() -> None:
    p = pool(max=1, max_prealloc=0, **WAITING)
    plan_ = run([p], [], [ticket(1), ticket(2, priority=3)])
    assert plan_.reasons[2] == "pool p: starting 1 for you"
    assert plan_.reasons[1] == "pool p: 1/1 at max; 1 ahead of you in the queue"


def test_among_equal_priorities_the_older_ticket_is_served_first() -> None:
    resources = [res(1), res(2)]
    tickets = [ticket(3, priority=1), ticket(2), ticket(1), ticket(4, priority=1)]
    assigned = of(run([pool()], resources, tickets), Assign)
    assert [a.ticket_id for a in assigned] == [3, 4]


def test_a_cheaper_pool_still_starting_is_counted_on_before_starting_a_dear_one() -> None:
    pools = [
        pool("cheap", max_prealloc=0, priority=10, **WAITING),
        pool("dear", max_prealloc=0, **WAITING),
    ]
    plan_ = run(pools, [res(4, R.STARTING, pool_name="cheap")], [ticket(1)])
    assert of(plan_, Start) == []
    assert plan_.reasons[1] == "pool cheap: resource 4 starting for you"
