"""The allocation policy: a pure function from a snapshot to actions.

Every rule of who gets what, and when resources are started, checked, reused
or deleted, is here (this module and the ones it calls) and nowhere else, so
it can be unit-tested with plain data and replayed in a simulator.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from lessor.domain.matching import unservable_tags
from lessor.domain.model import Pool, Snapshot, Ticket
from lessor.domain.states import TicketState
from lessor.planner import upkeep
from lessor.planner.actions import Action, Assign, FailTicket, Plan, Recycle
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
    actions += upkeep.report(v)
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
    """The actions for tickets that expire or can never be served (they leave the
    queue), the waiting tickets in queue order, and the view every rule plans with."""
    expired = list(upkeep.expire(View.of(s, frozenset()), timer))
    actions: list[Action] = list(expired)
    gone = {a.ticket_id for a in expired}
    queue = queue_order([t for t in s.tickets if t.state is TicketState.OPEN and t.id not in gone])
    # A pool removed from pools.yaml takes no new tickets, even while it winds down.
    failed = list(_fail_unservable([p for p in s.pools if not p.removed], queue))
    actions += failed
    queue = [t for t in queue if t.id not in {a.ticket_id for a in failed}]
    return actions, queue, View.of(s, frozenset(t.id for t in queue))


def queue_order(tickets: Iterable[Ticket]) -> list[Ticket]:
    """Who is served first: the higher priority, then the older, then the lower id."""
    return sorted(tickets, key=lambda t: (-t.priority, t.created_at, t.id))


def _fail_unservable(pools: list[Pool], tickets: list[Ticket]) -> Iterator[FailTicket]:
    for t in tickets:
        missing = unservable_tags(pools, t.tags)
        if missing:
            yield FailTicket(t.id, no_pool_message(missing))


def no_pool_message(missing: list[str]) -> str:
    names = ", ".join(repr(m) for m in missing)
    return f"no pool provides tag {names}" if len(missing) == 1 else f"no pool provides {names}"
