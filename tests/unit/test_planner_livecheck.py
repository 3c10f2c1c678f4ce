"""Livecheck policy: checks of ready and assigned resources; dead spares replaced, dead assigned
resources reported on their ticket."""

from __future__ import annotations

from tests.unit.planner_data import NOW, of, pool, res, run, starts, ticket

from lessor.domain.states import ResourceState as R
from lessor.domain.states import TicketState as T
from lessor.planner.actions import Delete, Livecheck, Recycle, ReportOnTicket, Retire

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
    assert of(run([pool(**CHECKED)], [r], [t]), ReportOnTicket) == []  # type: ignore[list-item]


def test_a_dead_assigned_resource_is_reported_on_its_ticket_and_kept() -> None:
    r, t = assigned(failures=3, last_livecheck=NOW)
    plan_ = run([pool(**CHECKED)], [r], [t])  # type: ignore[list-item]
    (report,) = of(plan_, ReportOnTicket)
    assert report.ticket_id == 1
    assert report.message == (
        "resource p_1 is not responding (3 livechecks failed in a row): check exited 1"
    )
    assert of(plan_, Recycle) == [] and of(plan_, Retire) == [] and of(plan_, Delete) == []


def test_the_report_is_made_once_and_withdrawn_when_the_resource_answers_again() -> None:
    r, t = assigned(failures=3, last_livecheck=NOW)
    (report,) = of(run([pool(**CHECKED)], [r], [t]), ReportOnTicket)  # type: ignore[list-item]
    reported = t.evolve(message=report.message)  # type: ignore[attr-defined]
    assert of(run([pool(**CHECKED)], [r], [reported]), ReportOnTicket) == []  # type: ignore[list-item]
    back = r.evolve(livecheck_failures=0)  # type: ignore[attr-defined]
    assert of(run([pool(**CHECKED)], [back], [reported]), ReportOnTicket) == [ReportOnTicket(1, "")]


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


def test_no_livecheck_without_cmd_livecheck() -> None:
    r, t = assigned(last_livecheck=NOW - 9999)
    assert of(run([pool()], [r], [t]), Livecheck) == []  # type: ignore[list-item]
