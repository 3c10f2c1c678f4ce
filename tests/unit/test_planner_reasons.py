"""Why is my ticket waiting? One reason per waiting ticket, from the accounting that decides."""

from __future__ import annotations

from tests.unit.planner_data import pool, res, run, ticket

from lessor.domain.model import Pool, Tag
from lessor.domain.states import ResourceState as R
from lessor.domain.states import TicketState as T


def test_the_example_of_the_issue() -> None:
    pools = [
        Pool("aws", max=5, max_prealloc=0, tags=(Tag("x"),), priority=10, start_for_waiting=True),
        Pool("local", max=3, max_prealloc=0, tags=(Tag("x"),), start_for_waiting=True),
    ]
    in_use = [res(i, R.TAKEN, pool_name="aws", ticket_id=i) for i in range(1, 6)]
    owners = [ticket(i, state=T.ASSIGNED, resource_id=i) for i in range(1, 6)]
    plan_ = run(pools, in_use, [*owners, ticket(9)])
    assert plan_.reasons == {9: "pool aws: 5/5 at max; pool local: starting 1 for you"}


def test_every_pool_that_could_serve_says_what_holds_it_back() -> None:
    pools = [
        pool("a", max=1, max_prealloc=0, start_for_waiting=True),
        pool("b", max=5, max_starting=1, max_prealloc=0, start_for_waiting=True),
    ]
    resources = [res(1, R.TAKEN, pool_name="a", ticket_id=1), res(2, R.STARTING, pool_name="b")]
    tickets = [ticket(1, state=T.ASSIGNED, resource_id=1), ticket(2), ticket(3)]
    plan_ = run(pools, resources, tickets)
    assert plan_.reasons[2] == "pool b: resource 2 starting for you"
    assert plan_.reasons[3] == (
        "pool a: 1/1 at max; pool b: 1/1 starting at once (max_starting); "
        "1 ahead of you in the queue"
    )


def test_a_long_queue_tells_each_ticket_how_many_wait_ahead() -> None:
    p = pool(max=0, max_prealloc=0)
    plan_ = run([p], [], [ticket(i) for i in range(1, 5)])
    assert plan_.reasons[1] == "pool p: 0/0 at max"
    assert plan_.reasons[4] == "pool p: 0/0 at max; 3 ahead of you in the queue"


def test_tickets_served_now_get_no_reason_and_those_no_pool_serves_say_so() -> None:
    plan_ = run([pool()], [res(1)], [ticket(1), ticket(2, "nosuch")])
    assert plan_.reasons == {2: "no pool provides tag 'nosuch'"}


def test_every_waiting_ticket_has_a_reason() -> None:
    p = pool(max=3, max_starting=1, max_prealloc=0)
    tickets = [ticket(i) for i in range(1, 8)]
    plan_ = run([p], [res(20, R.STARTING)], tickets)
    assert set(plan_.reasons) == set(range(1, 8))
    assert all(plan_.reasons.values())
