"""On-demand pools: no spares; a resource starts only for a ticket asking for it, and is its."""

from __future__ import annotations

from tests.unit.planner_data import of, pool, res, run, starts, ticket

from lessor.domain.model import Tag
from lessor.domain.states import ResourceState as R
from lessor.planner.actions import Assign, Retire, Start

BIG_TAGS = ("fedora", "bigmem")


def big(**kw: object) -> object:
    values: dict[str, object] = {"max": 4, "max_starting": 2, "max_prealloc": 2}
    values.update(kw)
    return pool("big", "fedora", tags_on_demand=(Tag("bigmem"),), **values)


def test_an_on_demand_pool_keeps_no_spares_whatever_its_max_prealloc() -> None:
    assert starts(run([big()])) == {}


def test_a_ticket_asking_for_an_on_demand_tag_starts_one_reserved_for_it() -> None:
    plan_ = run([big()], [], [ticket(1, "bigmem")])
    assert of(plan_, Start) == [Start("big", for_ticket=1)]
    assert plan_.reasons[1] == "pool big: starting 1 for you"


def test_a_ticket_without_an_on_demand_tag_starts_nothing_there_and_is_told_why() -> None:
    plan_ = run([big()], [], [ticket(1, "fedora")])
    assert of(plan_, Start) == []
    assert plan_.reasons[1] == "pool big: starts resources only for tickets asking for 'bigmem'"


def test_the_resource_goes_to_its_ticket_even_when_an_older_one_fits() -> None:
    ready = res(5, pool_name="big", tags=BIG_TAGS, reserved_for=2)
    plan_ = run([big()], [ready], [ticket(1, "fedora"), ticket(2, "bigmem")])
    assert of(plan_, Assign) == [Assign(2, 5)]


def test_a_starting_reserved_resource_is_counted_by_its_own_ticket_only() -> None:
    coming = res(5, R.STARTING, pool_name="big", tags=BIG_TAGS, reserved_for=1)
    plan_ = run([big()], [coming], [ticket(1, "bigmem"), ticket(2, "bigmem")])
    assert of(plan_, Start) == [Start("big", for_ticket=2)]
    assert plan_.reasons[1] == "pool big: resource 5 starting for you"


def test_a_reservation_for_a_ticket_gone_is_void() -> None:
    orphan = res(5, pool_name="big", tags=BIG_TAGS, reserved_for=99)
    plan_ = run([big()], [orphan], [ticket(3, "bigmem")])
    assert of(plan_, Assign) == [Assign(3, 5)]
    assert of(plan_, Start) == []


def test_each_waiting_on_demand_ticket_starts_its_own_within_max_starting() -> None:
    plan_ = run([big(max_starting=1)], [], [ticket(1, "bigmem"), ticket(2, "bigmem")])
    assert of(plan_, Start) == [Start("big", for_ticket=1)]
    assert plan_.reasons[2] == (
        "pool big: 1/1 starting at once (max_starting); 1 ahead of you in the queue"
    )


def test_an_on_demand_resource_nobody_waits_for_is_deleted_at_once() -> None:
    """As resalloc: its ticket went away; whatever idle_time says."""
    left = res(5, pool_name="big", tags=BIG_TAGS, age=1)
    assert [a.resource_id for a in of(run([big(idle_time=600)], [left]), Retire)] == [5]
    wanted = run([big(idle_time=600)], [left], [ticket(1, "bigmem")])
    assert of(wanted, Retire) == [] and of(wanted, Assign) == [Assign(1, 5)]


def test_a_normal_pool_serves_the_normal_tags_while_on_demand_ones_wait_for_theirs() -> None:
    pools = [pool("small", "fedora", max_prealloc=0, start_for_waiting=True), big()]
    plan_ = run(pools, [], [ticket(1, "fedora"), ticket(2, "fedora", "bigmem")])
    assert sorted(of(plan_, Start), key=str) == [Start("big", 2), Start("small")]
