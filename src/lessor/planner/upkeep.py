"""Everything a resource needs besides a ticket: recycling, trimming, checks, deletion, expiry.

Each rule of docs/policy.md that is not about who gets what is a named
predicate or generator here; the timed ones ask the plan's Timer whether
they are due, which is how the plan knows when to wake next.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from lessor.domain.model import Pool, Resource
from lessor.domain.states import ACTIVE_TICKET_STATES, ResourceState, TicketState
from lessor.planner.actions import (
    Action,
    Delete,
    ExpireTicket,
    FinishRelease,
    Livecheck,
    Recycle,
    Release,
    ReportOnTicket,
    Retire,
)
from lessor.planner.timer import Timer
from lessor.planner.view import View, dead, draining

R = ResourceState


def expire(v: View, timer: Timer) -> Iterator[ExpireTicket]:
    """Leases: an active ticket whose TTL ran out without a renewal is closed."""
    for t in v.s.tickets:
        if t.state in ACTIVE_TICKET_STATES and timer.due(t.expires_at):
            ttl = f" of {t.ttl:g}s" if t.ttl is not None else ""
            yield ExpireTicket(t.id, f"expired: not extended within its TTL{ttl}")


def recycle(v: View) -> Iterator[Recycle]:
    """A TAKEN resource whose ticket is no longer active goes back, or away (held ones stay)."""
    active = {t.id for t in v.s.tickets if t.state in ACTIVE_TICKET_STATES}
    by_id = {t.id: t for t in v.s.tickets}
    for r in v.s.resources:
        if r.state is not R.TAKEN or r.ticket_id in active or r.busy or r.held:
            continue
        ticket = by_id.get(r.ticket_id) if r.ticket_id is not None else None
        sandbox = ticket.sandbox if ticket else r.sandbox
        pool = v.pools.get(r.pool)
        if pool is not None and may_reuse(pool, r, sandbox, v.s.now):
            yield Recycle(r.id, reuse=True, release_hook=needs_release_hook(pool))
        else:
            yield Recycle(r.id, reuse=False)


def may_reuse(pool: Pool, r: Resource, sandbox: str | None, now: float) -> bool:
    """Sandbox reuse: only within one sandbox, within the pool's limits, never a dead one."""
    if not pool.reuses or sandbox is None or draining(pool) or dead(pool, r):
        return False
    if pool.reuse_max_count and r.releases + 1 > pool.reuse_max_count:
        return False
    return now - r.created_at < pool.reuse_max_time


def needs_release_hook(pool: Pool) -> bool:
    """A released resource is UP for its sandbox only after cmd_release, if the pool has one."""
    return bool(pool.cmd_release)


def spares_kept(pool: Pool) -> int:
    """The spares a pool keeps ready: `max_prealloc`, none for an on-demand pool."""
    return 0 if pool.tags_on_demand or draining(pool) else pool.max_prealloc


def maintain(
    v: View, taken: set[int], waiting_ids: frozenset[int], timer: Timer
) -> Iterator[Action]:
    """Retire what is not needed, check what is ready or in use, release, delete."""
    active = {t.id for t in v.s.tickets if t.state in ACTIVE_TICKET_STATES}
    idle = _idle_surplus(v, taken, waiting_ids, timer)
    for r in v.s.resources:
        pool = v.pools.get(r.pool)
        if r.busy or r.id in taken or pool is None or r.held:
            continue
        if r.state is R.UP:
            reason = _retire_reason(pool, r, timer) or idle.get(r.id, "")
            if reason:
                yield Retire(r.id, reason)
            elif _livecheck_due(pool, r, timer):
                yield Livecheck(r.id)
        elif r.state is R.TAKEN and r.ticket_id in active:
            if _livecheck_due(pool, r, timer):
                yield Livecheck(r.id)
        elif r.state is R.RELEASING:
            yield Release(r.id) if needs_release_hook(pool) else FinishRelease(r.id)
        elif r.state is R.DELETE_REQUESTED and timer.due(r.next_attempt_at):
            yield Delete(r.id, hook=bool(pool.cmd_delete))


def _retire_reason(pool: Pool, r: Resource, timer: Timer) -> str:
    """Why an UP resource goes (empty: it stays): drained, dead, its reuse window over."""
    if pool.removed:
        return "its pool was removed from pools.yaml"
    if pool.drained:
        return "its pool is drained"
    if dead(pool, r):
        return f"{r.livecheck_failures} livechecks failed in a row: {r.message}"
    if r.sandbox is None:
        return ""
    if timer.due(r.state_since + pool.reuse_opportunity_time):
        return "no ticket of its sandbox came within reuse_opportunity_time"
    if timer.due(r.created_at + pool.reuse_max_time):
        return "older than reuse_max_time"
    return ""


def spares_beyond_demand(
    v: View, taken: set[int], waiting_ids: frozenset[int]
) -> dict[str, list[Resource]]:
    """Gradual allocation: per pool, the ready unreserved spares beyond those it keeps (the
    longest idle ones; the freshest are kept)."""
    spares: dict[str, list[Resource]] = defaultdict(list)
    for r in v.s.resources:
        if is_spare(v, r, taken, waiting_ids):
            spares[r.pool].append(r)
    surplus: dict[str, list[Resource]] = {}
    for name, rs in spares.items():
        pool = v.pools.get(name)
        if pool is None or draining(pool):
            continue
        rs.sort(key=lambda r: (-r.state_since, -r.id))
        surplus[name] = rs[spares_kept(pool) :]
    return surplus


def is_spare(v: View, r: Resource, taken: set[int], waiting_ids: frozenset[int]) -> bool:
    """An UP resource of no sandbox that no ticket has or waits for (held or dead ones are
    not)."""
    pool = v.pools.get(r.pool)
    return (
        r.state is R.UP
        and r.sandbox is None
        and not r.held
        and r.id not in taken
        and not v.reserved_for_other(r, None, waiting_ids)
        and not (pool is not None and dead(pool, r))
    )


def _idle_surplus(
    v: View, taken: set[int], waiting_ids: frozenset[int], timer: Timer
) -> dict[int, str]:
    out = {}
    for name, rs in spares_beyond_demand(v, taken, waiting_ids).items():
        pool = v.pools[name]
        for r in rs:
            if timer.due(r.state_since + pool.idle_time):
                out[r.id] = f"spare beyond max_prealloc, unused for idle_time ({pool.idle_time:g}s)"
    return out


def _livecheck_due(pool: Pool, r: Resource, timer: Timer) -> bool:
    return bool(pool.cmd_livecheck) and timer.due(livecheck_at(pool, r))


def livecheck_at(pool: Pool, r: Resource) -> float:
    return (r.last_livecheck or r.state_since) + pool.livecheck_period


def delete_retry_at(pool: Pool, attempts: int, now: float) -> float:
    """A failed cmd_delete is retried after `delete_backoff` seconds, doubling with each
    failure in a row, at most `delete_backoff_max`: never forgotten, never hammered."""
    pause: float = pool.delete_backoff * 2 ** max(0, attempts - 1)
    return now + min(pool.delete_backoff_max, pause)


def report(v: View) -> Iterator[ReportOnTicket]:
    """Tell an assigned ticket that its resource stopped answering, and when it is back."""
    resources = {r.id: r for r in v.s.resources}
    for t in v.s.tickets:
        if t.state is not TicketState.ASSIGNED or t.resource_id is None:
            continue
        r = resources.get(t.resource_id)
        pool = v.pools.get(r.pool) if r is not None else None
        if r is None or pool is None or r.state is not R.TAKEN:
            continue
        if dead(pool, r):
            message = dead_message(r)
            if t.message != message:
                yield ReportOnTicket(t.id, message)
        elif t.message.startswith(_dead_prefix(r)):
            yield ReportOnTicket(t.id, "")


def _dead_prefix(r: Resource) -> str:
    return f"resource {r.name} is not responding"


def dead_message(r: Resource) -> str:
    why = f": {r.message}" if r.message else ""
    return f"{_dead_prefix(r)} ({r.livecheck_failures} livechecks failed in a row){why}"
