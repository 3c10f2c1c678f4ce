"""The allocation policy: a pure function from a snapshot to actions.

Every rule of who gets what, and when resources are started, checked, reused
or deleted, is here and nowhere else, so it can be unit-tested with plain data
and replayed in a simulator.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from lessor.domain.matching import pool_serves, resource_fits, score, unservable_tags
from lessor.domain.model import Pool, Resource, Snapshot, Ticket
from lessor.domain.states import LIVE_RESOURCE_STATES, ResourceState, TicketState
from lessor.planner.actions import (
    Action,
    Assign,
    Delete,
    FailTicket,
    Livecheck,
    Plan,
    Recycle,
    Release,
    Retire,
    Start,
)

R = ResourceState


def plan(s: Snapshot) -> Plan:
    pools = {p.name: p for p in s.pools}
    open_tickets = sorted(
        (t for t in s.tickets if t.state is TicketState.OPEN),
        key=lambda t: (-t.priority, t.created_at, t.id),
    )
    actions: list[Action] = []
    actions += _fail_unservable(s.pools, open_tickets)
    failed = {a.ticket_id for a in actions if isinstance(a, FailTicket)}
    open_tickets = [t for t in open_tickets if t.id not in failed]

    assigned = list(_assign(s, pools, open_tickets))
    actions += assigned
    taken = {a.resource_id for a in assigned}
    waiting = [t for t in open_tickets if t.id not in {a.ticket_id for a in assigned}]

    actions += _start(s, waiting, taken)
    actions += _recycle(s, pools)
    actions += _maintain(s, pools, taken)
    return Plan(tuple(actions), _wake_at(s, pools))


def _fail_unservable(pools: tuple[Pool, ...], tickets: list[Ticket]) -> Iterator[FailTicket]:
    for t in tickets:
        missing = unservable_tags(pools, t.tags)
        if missing:
            yield FailTicket(t.id, no_pool_message(missing))


def no_pool_message(missing: list[str]) -> str:
    names = ", ".join(repr(m) for m in missing)
    return f"no pool provides tag {names}" if len(missing) == 1 else f"no pool provides {names}"


def _assign(s: Snapshot, pools: dict[str, Pool], tickets: list[Ticket]) -> Iterator[Assign]:
    """Highest-priority, then oldest, ticket first; each takes its best-scoring spare."""
    free = [r for r in s.resources if r.state is R.UP and r.id not in s.busy and r.pool in pools]
    for t in tickets:
        fitting = [r for r in free if resource_fits(r, t)]
        if not fitting:
            continue
        best = max(fitting, key=lambda r: (score(r, t, pools.get(r.pool)), -r.id))
        free.remove(best)
        yield Assign(t.id, best.id)


def _start(s: Snapshot, waiting: list[Ticket], taken: set[int]) -> Iterator[Start]:
    """Start resources for waiting tickets first, then top up the warm spares.

    Resources already starting are counted as supply for waiting tickets, so a
    burst of tickets does not start more than it needs; `max` and
    `max_starting` bound everything.
    """
    live = Counter(r.pool for r in s.resources if r.state in LIVE_RESOURCE_STATES)
    starting = Counter(r.pool for r in s.resources if r.state is R.STARTING)
    spares = Counter(
        r.pool
        for r in s.resources
        if r.state is R.UP and r.sandbox is None and r.id not in taken and r.id not in s.busy
    )
    supply = Counter(starting)
    room = {
        p.name: max(0, min(p.max - live[p.name], p.max_starting - starting[p.name]))
        for p in s.pools
    }
    starts: Counter[str] = Counter()
    for t in waiting:
        candidates = sorted(
            (p for p in s.pools if pool_serves(p, t.tags)),
            key=lambda p: -sum(tag.priority for tag in p.tags if tag.name in t.tags),
        )
        chosen = next((p for p in candidates if supply[p.name] > 0), None)
        if chosen is not None:
            supply[chosen.name] -= 1
            continue
        chosen = next((p for p in candidates if room[p.name] > 0), None)
        if chosen is not None:
            room[chosen.name] -= 1
            starts[chosen.name] += 1
    for p in s.pools:
        need = max(0, p.max_prealloc - spares[p.name] - supply[p.name])
        extra = min(need, room[p.name])
        starts[p.name] += extra
        room[p.name] -= extra
    for p in s.pools:
        for _ in range(starts[p.name]):
            yield Start(p.name)


def _recycle(s: Snapshot, pools: dict[str, Pool]) -> Iterator[Recycle]:
    """A TAKEN resource whose ticket is no longer active goes back, or away."""
    active = {t.id for t in s.tickets if t.state in (TicketState.OPEN, TicketState.ASSIGNED)}
    by_id = {t.id: t for t in s.tickets}
    for r in s.resources:
        if r.state is not R.TAKEN or r.ticket_id in active or r.id in s.busy:
            continue
        ticket = by_id.get(r.ticket_id) if r.ticket_id is not None else None
        sandbox = ticket.sandbox if ticket else r.sandbox
        pool = pools.get(r.pool)
        yield Recycle(r.id, reuse=pool is not None and _may_reuse(pool, r, sandbox, s.now))


def _may_reuse(pool: Pool, r: Resource, sandbox: str | None, now: float) -> bool:
    """Reuse only within one sandbox, and within the pool's count and age limits."""
    if not pool.reuses or sandbox is None:
        return False
    if pool.reuse_max_count and r.releases + 1 > pool.reuse_max_count:
        return False
    return now - r.created_at < pool.reuse_max_time


def _maintain(s: Snapshot, pools: dict[str, Pool], taken: set[int]) -> Iterator[Action]:
    for r in s.resources:
        pool = pools.get(r.pool)
        if r.id in s.busy or r.id in taken or pool is None:
            continue
        if r.state is R.UP:
            reason = _retire_reason(pool, r, s.now)
            if reason:
                yield Retire(r.id, reason)
            elif pool.cmd_livecheck and _livecheck_due(pool, r) <= s.now:
                yield Livecheck(r.id)
        elif r.state is R.RELEASING:
            yield Release(r.id)
        elif r.state is R.DELETE_REQUESTED and r.next_attempt_at <= s.now:
            yield Delete(r.id)


def _retire_reason(pool: Pool, r: Resource, now: float) -> str:
    if r.sandbox is None:
        return ""
    if now - r.state_since >= pool.reuse_opportunity_time:
        return "no ticket of its sandbox came within reuse_opportunity_time"
    if now - r.created_at >= pool.reuse_max_time:
        return "older than reuse_max_time"
    return ""


def _livecheck_due(pool: Pool, r: Resource) -> float:
    return (r.last_livecheck or r.state_since) + pool.livecheck_period


def _wake_at(s: Snapshot, pools: dict[str, Pool]) -> float | None:
    """The earliest future moment at which a timed rule will fire."""
    times: list[float] = []
    for r in s.resources:
        pool = pools.get(r.pool)
        if pool is None:
            continue
        if r.state is R.UP and pool.cmd_livecheck:
            times.append(_livecheck_due(pool, r))
        if r.state is R.UP and r.sandbox is not None:
            times.append(r.state_since + pool.reuse_opportunity_time)
        if r.state is R.DELETE_REQUESTED:
            times.append(r.next_attempt_at)
    future = [t for t in times if t > s.now]
    return min(future) if future else None
