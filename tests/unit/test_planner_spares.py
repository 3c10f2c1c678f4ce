"""Gradual allocation: spares only while there is room under max; extra spares trimmed when idle."""

from __future__ import annotations

from tests.unit.planner_data import NOW, of, pool, res, run, starts, ticket

from lessor.domain.states import ResourceState as R
from lessor.domain.states import TicketState as T
from lessor.planner.actions import Retire


def taken(n: int) -> tuple[list[object], list[object]]:
    resources = [res(i, R.TAKEN, ticket_id=i) for i in range(1, n + 1)]
    tickets = [ticket(i, state=T.ASSIGNED, resource_id=i) for i in range(1, n + 1)]
    return resources, tickets


def test_spares_are_kept_only_while_there_is_room_under_max() -> None:
    p = pool(max=3, max_prealloc=2, max_starting=5)
    for in_use, expected in ((0, 2), (1, 2), (2, 1), (3, 0)):
        resources, tickets = taken(in_use)
        assert starts(run([p], resources, tickets))["p"] == expected  # type: ignore[arg-type]


def test_spares_beyond_max_prealloc_are_deleted_once_idle_the_freshest_kept() -> None:
    p = pool(max=10, max_prealloc=1, idle_time=600)
    spares = [res(1, age=700), res(2, age=650), res(3, age=10)]
    retired = of(run([p], spares), Retire)
    assert sorted(a.resource_id for a in retired) == [1, 2]
    assert "idle_time" in retired[0].reason
    kept_two = of(run([p.evolve(max_prealloc=2)], spares), Retire)
    assert [a.resource_id for a in kept_two] == [1]


def test_an_extra_spare_stays_until_its_idle_time_and_the_loop_wakes_for_it() -> None:
    p = pool(max=10, max_prealloc=1, idle_time=600)
    plan_ = run([p], [res(1, age=10), res(2, age=100)])
    assert of(plan_, Retire) == []
    assert plan_.wake_at == NOW + 500


def test_idle_spares_within_max_prealloc_are_never_trimmed() -> None:
    p = pool(max=10, max_prealloc=2, idle_time=0)
    assert of(run([p], [res(1, age=9999), res(2, age=9999)]), Retire) == []


def test_a_spare_mid_livecheck_still_counts_as_a_spare() -> None:
    p = pool(max=10, max_prealloc=2, max_starting=5, cmd_livecheck="true")
    assert starts(run([p], [res(1), res(2)], busy=frozenset({1, 2})))["p"] == 0


def test_a_spare_handed_out_now_is_replaced_now() -> None:
    p = pool(max=10, max_prealloc=2, max_starting=5)
    assert starts(run([p], [res(1), res(2)], [ticket(1)]))["p"] == 1


def test_zero_idle_time_trims_extra_spares_at_once() -> None:
    p = pool(max=10, max_prealloc=0, idle_time=0)
    assert [a.resource_id for a in of(run([p], [res(1, age=0)]), Retire)] == [1]
