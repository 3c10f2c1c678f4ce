"""Livecheck policy: checks of ready and assigned resources; dead spares replaced; as resalloc,
a dead assigned resource fails its ticket and is deleted."""

from __future__ import annotations

from tests.unit.planner_data import NOW, of, pool, res, run, starts, ticket

from lessor.domain.states import ResourceState as R
from lessor.domain.states import TicketState as T
from lessor.planner.actions import Assign, Delete, FailTicket, Livecheck, Recycle, Retire

CHECKED = {"cmd_livecheck": "check", "livecheck_period": 60, "livecheck_attempts": 3}


def assigned(failures: int = 0, **kw: object) -> tuple[object, object]:
    r = res(1, R.TAKEN, ticket_id=1, livecheck_failures=failures, message="check exited 1", **kw)
    t = ticket(1, state=T.ASSIGNED, resource_id=1)
    return r, t


def test_an_assigned_resource_is_checked_too_when_due() -> None:
    r, t = assigned(last_livecheck=NOW - 61)
    assert of(run([pool(**CHECKED)], [r], [t]), Livecheck) == [Livecheck(1)]  # type: ignore[list-item]
    r, t = assigned(last_livecheck=NOW - 10)
    plan_ = run([pool(**CHECKED)], [r], [t])  # type: ignore[list-item]
    assert of(plan_, Livecheck) == [] and plan_.wake_at == NOW + 50


def test_fewer_failures_than_attempts_change_nothing_for_the_ticket() -> None:
    r, t = assigned(failures=2, last_livecheck=NOW)
    plan_ = run([pool(**CHECKED)], [r], [t])  # type: ignore[list-item]
    assert of(plan_, FailTicket) == [] and of(plan_, Retire) == []


def test_a_dead_assigned_resource_fails_its_ticket_and_is_deleted() -> None:
    r, t = assigned(failures=3, last_livecheck=NOW)
    plan_ = run([pool(**CHECKED)], [r], [t])  # type: ignore[list-item]
    assert of(plan_, FailTicket) == [
        FailTicket(
            1, "resource p_1 is not responding (3 livechecks failed in a row): check exited 1"
        )
    ]
    assert of(plan_, Retire) == [Retire(1, "3 livechecks failed in a row: check exited 1")]
    held = r.evolve(hold_reason="look at it")  # type: ignore[attr-defined]
    plan_ = run([pool(**CHECKED)], [held], [t])  # type: ignore[list-item]
    assert of(plan_, FailTicket) == [] and of(plan_, Retire) == []  # a hold keeps it as it is


def test_a_spare_whose_last_livecheck_failed_is_not_handed_out_until_one_passes() -> None:
    p = pool(max_prealloc=0, **CHECKED)
    failing = res(1, livecheck_failures=1, last_livecheck=NOW)
    assert of(run([p], [failing], [ticket(1)]), Assign) == []
    assert of(run([p], [failing.evolve(livecheck_failures=0)], [ticket(1)]), Assign) == [
        Assign(1, 1)
    ]


def test_a_dead_resource_is_deleted_not_reused_when_its_ticket_closes() -> None:
    p = pool(reuse_opportunity_time=100, **CHECKED)
    r = res(1, R.TAKEN, ticket_id=1, livecheck_failures=3)
    t = ticket(1, state=T.CLOSED, resource_id=1, sandbox="s1")
    assert of(run([p], [r], [t]), Recycle) == [Recycle(1, reuse=False)]


def test_a_dead_spare_being_deleted_is_replaced() -> None:
    p = pool(max=4, max_prealloc=2, max_starting=2, **CHECKED)
    resources = [res(1, last_livecheck=NOW), res(2, R.DELETE_REQUESTED, next_attempt_at=NOW)]
    plan_ = run([p], resources)
    assert starts(plan_)["p"] == 1 and of(plan_, Delete) == [Delete(2)]


def test_a_dead_spare_is_deleted() -> None:
    plan_ = run([pool(max_prealloc=1, **CHECKED)], [res(1, livecheck_failures=3, message="down")])
    assert of(plan_, Retire) == [Retire(1, "3 livechecks failed in a row: down")]


def test_no_livecheck_without_cmd_livecheck() -> None:
    r, t = assigned(last_livecheck=NOW - 9999)
    assert of(run([pool()], [r], [t]), Livecheck) == []  # type: ignore[list-item]
