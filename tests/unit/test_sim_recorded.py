"""`lessor simulate --from-events`: the event log read back as the workload it was."""

from __future__ import annotations

from typing import Any, NamedTuple

import pytest

from lessor.sim.recorded import workload_from_events
from lessor.sim.workload import Arrival, Durations


class Ev(NamedTuple):
    kind: str
    ticket_id: int | None = None
    pool: str | None = None
    details: dict[str, Any] = {}


def opened(t: int, tags: list[str], **more: Any) -> Ev:
    return Ev("ticket.opened", t, details={"tags": tags, "sandbox": None, "priority": 0} | more)


def finished(pool: str, hook: str, duration: float, ok: bool = True) -> Ev:
    return Ev("hook.finished", None, pool, {"hook": hook, "duration": duration, "ok": ok})


def test_served_tickets_come_back_with_their_holds_and_hooks_with_their_medians() -> None:
    events = [
        (1000.0, opened(1, ["x86"], sandbox="s1", priority=5)),
        (1000.5, Ev("ticket.assigned", 1, "cloud")),
        (1010.0, opened(2, ["arm"])),
        (1070.0, finished("cloud", "cmd_new", 60.0)),
        (1080.0, finished("cloud", "cmd_new", 80.0)),
        (1090.0, finished("cloud", "cmd_new", 5.0, ok=False)),  # a failure says nothing
        (1100.0, Ev("ticket.assigned", 2, "arm")),
        (1200.5, Ev("ticket.closed", 1)),
        (1300.0, Ev("ticket.expired", 2)),
        (1400.0, finished("cloud", "cmd_delete", 10.0)),
    ]
    got = workload_from_events(events, now=2000.0)
    assert got.workload.arrivals == (
        Arrival(at=0.0, tags=("x86",), hold=200.0, sandbox="s1", priority=5),
        Arrival(at=10.0, tags=("arm",), hold=200.0),
    )
    assert got.workload.starts_at == 1000.0  # hours of the week named as they were
    assert got.workload.durations("cloud") == Durations(new=70.0, release=0.0, delete=10.0)
    assert got.warnings() == []


def test_what_cannot_be_replayed_is_left_out_and_counted() -> None:
    events = [
        (0.0, Ev("ticket.assigned", 7, "cloud")),  # opened before the window
        (1.0, opened(8, ["x86"])),  # closed while waiting
        (2.0, Ev("ticket.closed", 8)),
        (3.0, opened(9, ["x86"], job=1, part="a")),
        (4.0, Ev("ticket.assigned", 9, "cloud")),
        (5.0, opened(10, ["x86"])),
        (6.0, Ev("ticket.assigned", 10, "cloud")),  # still held: until now
    ]
    got = workload_from_events(events, now=100.0)
    assert got.workload.arrivals == (Arrival(at=5.0, tags=("x86",), hold=pytest.approx(94.0)),)
    assert sorted(got.warnings()) == [
        "1 ticket left out: never assigned (closed or failed while waiting)",
        "1 ticket left out: opened before the window",
        "1 ticket left out: parts of jobs (the simulator replays tickets)",
    ]
