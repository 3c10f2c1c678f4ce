"""assignments() and recycling() are exactly the matching parts of plan(), on any snapshot."""

from __future__ import annotations

import pytest
from tests.unit.planner_data import NOW, pool, res, ticket

from lessor.domain.model import Snapshot
from lessor.domain.states import ResourceState as R
from lessor.domain.states import TicketState as T
from lessor.planner.actions import Assign, Recycle
from lessor.planner.plan import assignments, plan, recycling

REUSE = {"reuse_opportunity_time": 60.0}
SNAPSHOTS = {
    "spares and a queue": Snapshot(
        NOW,
        (pool("cheap", priority=5), pool("dear")),
        (
            res(1, pool_name="dear"),
            res(2, pool_name="cheap"),
            res(3, pool_name="cheap", hook="cmd_livecheck"),
        ),
        (ticket(1), ticket(2, priority=9), ticket(3)),
    ),
    "expired and unservable tickets leave the queue": Snapshot(
        NOW,
        (pool("p"),),
        (res(1), res(2)),
        (ticket(1, ttl=10.0, expires_at=NOW - 1), ticket(2, "nope"), ticket(3)),
    ),
    "closed tickets' resources, reused or not": Snapshot(
        NOW,
        (pool("p", **REUSE), pool("q")),
        (
            res(1, R.TAKEN, ticket_id=1),
            res(2, R.TAKEN, pool_name="q", ticket_id=2),
            res(3, R.TAKEN, ticket_id=3, hold_reason="look"),
            res(4, R.TAKEN, ticket_id=4),
        ),
        (
            ticket(1, state=T.CLOSED, sandbox="ci"),
            ticket(2, state=T.CLOSED, sandbox="ci"),
            ticket(3, state=T.CLOSED, sandbox="ci"),
            ticket(4, state=T.ASSIGNED, sandbox="ci"),
        ),
    ),
}


@pytest.mark.parametrize("name", SNAPSHOTS)
def test_the_parts_are_the_plans_own(name: str) -> None:
    s = SNAPSHOTS[name]
    actions = plan(s).actions
    assert assignments(s) == [a for a in actions if isinstance(a, Assign)]
    assert recycling(s) == [a for a in actions if isinstance(a, Recycle)]


def test_the_snapshots_exercise_both() -> None:
    assert assignments(SNAPSHOTS["spares and a queue"]) == [Assign(2, 2), Assign(1, 1)]
    assert assignments(SNAPSHOTS["expired and unservable tickets leave the queue"]) == [
        Assign(3, 1)
    ]
    assert recycling(SNAPSHOTS["closed tickets' resources, reused or not"]) == [
        Recycle(1, reuse=True),
        Recycle(2, reuse=False),
    ]
