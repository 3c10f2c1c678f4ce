"""resalloc's start_delay: the least time between two cmd_new of one pool."""

from __future__ import annotations

from lessor.domain.model import Pool, Resource, Snapshot, Tag, Ticket
from lessor.domain.states import ResourceState as R
from lessor.domain.states import TicketState as T
from lessor.planner.actions import Start
from lessor.planner.plan import plan

NOW = 1_000_000.0
POOL = Pool("p", max=10, max_starting=10, max_prealloc=5, start_delay=30, tags=(Tag("x"),))


def starting(rid: int, age: float) -> Resource:
    return Resource(
        id=rid,
        pool="p",
        name=f"p_{rid}",
        state=R.STARTING,
        tags=("x",),
        created_at=NOW - age,
        state_since=NOW - age,
    )


def test_one_start_per_delay_even_when_more_spares_are_missing() -> None:
    p = plan(Snapshot(NOW, (POOL,), (), ()))
    assert [a for a in p.actions if isinstance(a, Start)] == [Start("p")]
    assert p.wake_at is not None and p.wake_at == NOW + 30


def test_no_start_before_the_delay_has_passed_and_the_ticket_is_told() -> None:
    ticket = Ticket(id=1, tags=("x",), state=T.OPEN, created_at=NOW)
    recent = plan(Snapshot(NOW, (POOL,), (starting(1, 10),), (ticket,)))
    # the ticket counts on the one starting; nothing new starts within the delay
    assert not [a for a in recent.actions if isinstance(a, Start)]
    assert recent.wake_at == NOW + 20
    later = plan(Snapshot(NOW, (POOL,), (starting(1, 31),), ()))
    assert [a for a in later.actions if isinstance(a, Start)] == [Start("p")]
