"""A workload from a server's event log: real traffic, to replay against a changed pools.yaml.

`lessor simulate --from-events` reads the last days of events and turns them into
what a workload file would say: each ticket that was served becomes an arrival at
the moment it was opened, with its tags, sandbox and priority, holding its resource
as long as it really did (until closed or expired, or until now if still held);
each pool's hooks take the median of their successful runs. What the event log
cannot replay is left out and counted: tickets never assigned (closed or failed
while waiting: their holder's patience is not in the log), tickets opened before
the window, and the parts of jobs (the simulator replays tickets).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from lessor.domain.kinds import EventKind as K
from lessor.sim.workload import Arrival, Durations, Workload

KINDS = (
    K.TICKET_OPENED,
    K.TICKET_ASSIGNED,
    K.TICKET_CLOSED,
    K.TICKET_EXPIRED,
    K.HOOK_FINISHED,
)
"""The events a workload is made from: ask the server for these only."""

_HOOKS = {"cmd_new": "new", "cmd_release": "release", "cmd_delete": "delete"}


class Recorded(Protocol):
    """What is read of one event (lessor.client.models.EventOut has it, `at` made seconds)."""

    @property
    def kind(self) -> str: ...
    @property
    def ticket_id(self) -> int | None: ...
    @property
    def pool(self) -> str | None: ...
    @property
    def details(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class FromEvents:
    workload: Workload
    left_out: dict[str, int] = field(default_factory=dict)
    """Why tickets were not replayed → how many."""

    def warnings(self) -> list[str]:
        return [
            f"{n} ticket{'' if n == 1 else 's'} left out: {why}"
            for why, n in self.left_out.items()
            if n
        ]


def workload_from_events(events: Iterable[tuple[float, Recorded]], now: float) -> FromEvents:
    """The workload the events (time in seconds, event; oldest first) describe, up to `now`.

    Time 0 of the workload is the first event's (its `starts_at`).
    """
    start: float | None = None
    opened: dict[int, tuple[float, dict[str, Any]]] = {}
    assigned: dict[int, float] = {}
    ended: dict[int, float] = {}
    runs: defaultdict[tuple[str, str], list[float]] = defaultdict(list)
    parts: set[int] = set()
    for at, e in events:
        start = at if start is None else start
        if e.kind == K.HOOK_FINISHED:
            hook = _HOOKS.get(str(e.details.get("hook")))
            duration = e.details.get("duration")
            if hook and e.pool and e.details.get("ok") and isinstance(duration, int | float):
                runs[(e.pool, hook)].append(float(duration))
            continue
        if e.ticket_id is None:
            continue
        if e.kind == K.TICKET_OPENED:
            if e.details.get("job") is not None:
                parts.add(e.ticket_id)
            else:
                opened[e.ticket_id] = (at, e.details)
        elif e.kind == K.TICKET_ASSIGNED:
            assigned[e.ticket_id] = at
        else:
            ended.setdefault(e.ticket_id, at)
    arrivals = []
    for ticket_id, (at, d) in opened.items():
        got = assigned.get(ticket_id)
        if got is None:
            continue
        arrivals.append(
            Arrival(
                at=at - (start or 0.0),
                tags=tuple(str(t) for t in d.get("tags") or ()),
                hold=max(0.0, ended.get(ticket_id, now) - got),
                sandbox=d.get("sandbox"),
                priority=int(d.get("priority") or 0),
            )
        )
    hooks: defaultdict[str, dict[str, float]] = defaultdict(dict)
    for (pool, hook), seconds in runs.items():
        hooks[pool][hook] = statistics.median(seconds)
    left_out = {
        "never assigned (closed or failed while waiting)": sum(t not in assigned for t in opened),
        "opened before the window": sum(t not in opened and t not in parts for t in assigned),
        "parts of jobs (the simulator replays tickets)": len(parts),
    }
    return FromEvents(
        Workload(
            tuple(sorted(arrivals, key=lambda a: a.at)),
            {pool: Durations(**d) for pool, d in hooks.items()},
            starts_at=start or 0.0,
        ),
        left_out,
    )
