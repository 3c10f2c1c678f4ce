"""The allocation policy: a pure function from a snapshot to actions.

Every rule of who gets what, and when resources are started, checked, reused
or deleted, is here (this module and the ones it calls) and nowhere else, so
it can be unit-tested with plain data and replayed in a simulator.
"""

from __future__ import annotations

from collections.abc import Iterable

from lessor.domain.model import Snapshot, Ticket
from lessor.planner import jobs, upkeep
from lessor.planner.actions import (
    Action,
    Assign,
    ExpireTicket,
    FailTicket,
    GrantJob,
    Plan,
    Recycle,
)
from lessor.planner.assign import assign
from lessor.planner.starts import start
from lessor.planner.timer import Timer
from lessor.planner.view import View


def plan(s: Snapshot) -> Plan:
    """Every action the rules call for now, in the order they are to be applied: tickets
    that leave the queue (expired, jobs never to be served), hand-outs, starts, the upkeep of
    resources; when to plan again if nothing happens meanwhile (the earliest time a timed
    rule falls due); and why each ticket left waiting waits."""
    timer = Timer(s.now)
    actions, queue, v = _queue(s, timer)
    handouts = assign(v, queue)
    actions += handouts.actions
    assigned = _flat(handouts.actions)
    # what is set aside for a waiting job is neither a spare nor idle (planner/jobs.py)
    taken = {a.resource_id for a in assigned} | set(handouts.set_aside.values())
    served = {a.ticket_id for a in assigned}
    waiting = [t for t in queue if t.id not in served]
    waiting_ids = frozenset(t.id for t in waiting)

    held_back = handouts.set_aside.keys() | handouts.over_quota.keys()
    needing = [t for t in waiting if t.id not in held_back]
    started = start(v, needing, taken, timer)
    actions += started.starts
    actions += upkeep.recycle(v)
    actions += upkeep.maintain(v, taken, waiting_ids, timer)
    reasons = dict(started.reasons)
    for job_id, parts in handouts.waiting_jobs.items():
        reasons |= jobs.waiting_reason(job_id, parts, handouts.set_aside, started.reasons)
    reasons |= handouts.over_quota
    return Plan(tuple(actions), timer.next, reasons)


def _flat(handouts: list[Assign | GrantJob]) -> list[Assign]:
    """Every hand-out, a job's parts one by one."""
    return [p for a in handouts for p in (a.parts if isinstance(a, GrantJob) else (a,))]


def assignments(s: Snapshot) -> list[Assign]:
    """The hand-outs of `plan(s)`, and nothing else: for a use case that only asks who
    gets what now (a new ticket, a spare at once), without paying for the upkeep rules."""
    _, queue, v = _queue(s, Timer(s.now))
    return [a for a in assign(v, queue).actions if isinstance(a, Assign)]


def recycling(s: Snapshot) -> list[Recycle]:
    """The recycle decisions of `plan(s)`, and nothing else (a ticket just closed)."""
    return list(upkeep.recycle(View.of(s, frozenset())))


def _queue(s: Snapshot, timer: Timer) -> tuple[list[Action], list[Ticket], View]:
    """The expiry of tickets whose lease ran out (they leave the queue), the waiting
    tickets in queue order, and the view every rule plans with.

    A ticket no pool can serve waits, as in resalloc: a later pools.yaml may
    add a pool for it; why it waits says which tag no pool provides.
    """
    whole = View.of(s, frozenset())
    f = whole.facts
    expired: list[ExpireTicket | FailTicket] = list(upkeep.expire(whole, timer))
    expired += jobs.never_served(s.pools, f.jobs)
    gone = {a.ticket_id for a in expired}
    waiting = f.open
    if gone:
        ending = {job for job, parts in f.jobs.items() if any(p.id in gone for p in parts)}
        gone |= {p.id for job in ending for p in f.jobs[job]}  # a job leaves the queue whole
        waiting = [t for t in waiting if t.id not in gone]
    on_demand = frozenset(t.name for p in s.pools for t in p.tags_on_demand)
    queue = queue_order(waiting, on_demand)
    return list[Action](expired), queue, View.of(s, frozenset(t.id for t in queue), f)


def queue_order(tickets: Iterable[Ticket], on_demand: frozenset[str] = frozenset()) -> list[Ticket]:
    """Who is served first: the higher priority, then (as resalloc) those asking for an
    on-demand tag, then the lower id (the older)."""
    return sorted(tickets, key=lambda t: (-t.priority, on_demand.isdisjoint(t.tags), t.id))
