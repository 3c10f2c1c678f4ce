"""The allocation policy: a pure function from a snapshot to actions.

Every rule of who gets what, and when resources are started, checked, reused
or deleted, is here (this module and the ones it calls) and nowhere else, so
it can be unit-tested with plain data and replayed in a simulator.
"""

from __future__ import annotations

from collections.abc import Iterable

from lessor.domain.model import Snapshot, Ticket
from lessor.domain.states import TicketState
from lessor.planner import upkeep
from lessor.planner.actions import Action, Assign, Plan, Recycle
from lessor.planner.assign import assign
from lessor.planner.starts import start
from lessor.planner.timer import Timer
from lessor.planner.view import View


def plan(s: Snapshot) -> Plan:
    """Every action the rules call for now, in the order they are to be applied: tickets
    that leave the queue (expired, unservable), hand-outs, starts, then the upkeep of
    resources; when to plan again if nothing happens meanwhile (the earliest time a timed
    rule falls due); and why each ticket left waiting waits."""
    timer = Timer(s.now)
    actions, queue, v = _queue(s, timer)
    assigned = list(assign(v, queue))
    actions += assigned
    taken = {a.resource_id for a in assigned}
    served = {a.ticket_id for a in assigned}
    waiting = [t for t in queue if t.id not in served]
    waiting_ids = frozenset(t.id for t in waiting)

    started = start(v, waiting, taken, timer)
    actions += started.starts
    actions += upkeep.recycle(v)
    actions += upkeep.maintain(v, taken, waiting_ids, timer)
    return Plan(tuple(actions), timer.next, started.reasons)


def assignments(s: Snapshot) -> list[Assign]:
    """The hand-outs of `plan(s)`, and nothing else: for a use case that only asks who
    gets what now (a new ticket, a spare at once), without paying for the upkeep rules."""
    _, queue, v = _queue(s, Timer(s.now))
    return list(assign(v, queue))


def recycling(s: Snapshot) -> list[Recycle]:
    """The recycle decisions of `plan(s)`, and nothing else (a ticket just closed)."""
    return list(upkeep.recycle(View.of(s, frozenset())))


def _queue(s: Snapshot, timer: Timer) -> tuple[list[Action], list[Ticket], View]:
    """The expiry of tickets whose lease ran out (they leave the queue), the waiting
    tickets in queue order, and the view every rule plans with.

    A ticket no pool can serve waits, as in resalloc: a later pools.yaml may
    add a pool for it; why it waits says which tag no pool provides.
    """
    expired = list(upkeep.expire(View.of(s, frozenset()), timer))
    gone = {a.ticket_id for a in expired}
    on_demand = frozenset(t.name for p in s.pools for t in p.tags_on_demand)
    waiting = [t for t in s.tickets if t.state is TicketState.OPEN and t.id not in gone]
    queue = queue_order(waiting, on_demand)
    return list(expired), queue, View.of(s, frozenset(t.id for t in queue))


def queue_order(tickets: Iterable[Ticket], on_demand: frozenset[str] = frozenset()) -> list[Ticket]:
    """Who is served first: the higher priority, then (as resalloc) those asking for an
    on-demand tag, then the lower id (the older)."""
    return sorted(tickets, key=lambda t: (-t.priority, on_demand.isdisjoint(t.tags), t.id))
