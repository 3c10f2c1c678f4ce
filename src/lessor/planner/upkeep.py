"""Everything a resource needs besides a ticket: recycling, trimming, checks, deletion, expiry."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from lessor.domain.model import Pool, Resource
from lessor.domain.states import ACTIVE_TICKET_STATES, ResourceState, TicketState
from lessor.planner.actions import (
    Action,
    Delete,
    ExpireTicket,
    Livecheck,
    Recycle,
    Release,
    ReportOnTicket,
    Retire,
)
from lessor.planner.view import View, draining

R = ResourceState


def expire(v: View) -> Iterator[ExpireTicket]:
    """Active tickets whose TTL ran out: their owner stopped renewing them."""
    for t in v.s.tickets:
        if t.state in ACTIVE_TICKET_STATES and t.expires_at is not None and t.expires_at <= v.s.now:
            ttl = f" of {t.ttl:g}s" if t.ttl is not None else ""
            yield ExpireTicket(t.id, f"expired: not extended within its TTL{ttl}")


def recycle(v: View) -> Iterator[Recycle]:
    """A TAKEN resource whose ticket is no longer active goes back, or away (held ones stay)."""
    active = {t.id for t in v.s.tickets if t.state in ACTIVE_TICKET_STATES}
    by_id = {t.id: t for t in v.s.tickets}
    for r in v.s.resources:
        if r.state is not R.TAKEN or r.ticket_id in active or r.id in v.s.busy or r.held:
            continue
        ticket = by_id.get(r.ticket_id) if r.ticket_id is not None else None
        sandbox = ticket.sandbox if ticket else r.sandbox
        pool = v.pools.get(r.pool)
        yield Recycle(r.id, reuse=pool is not None and may_reuse(pool, r, sandbox, v.s.now))


def may_reuse(pool: Pool, r: Resource, sandbox: str | None, now: float) -> bool:
    """Reuse only within one sandbox, within the pool's limits, and never a dead resource."""
    if not pool.reuses or sandbox is None or draining(pool) or dead(pool, r):
        return False
    if pool.reuse_max_count and r.releases + 1 > pool.reuse_max_count:
        return False
    return now - r.created_at < pool.reuse_max_time


def dead(pool: Pool, r: Resource) -> bool:
    return bool(pool.cmd_livecheck) and r.livecheck_failures >= pool.livecheck_attempts


def maintain(v: View, taken: set[int], waiting_ids: frozenset[int]) -> Iterator[Action]:
    """Retire what is not needed, check what is ready or in use, release, delete."""
    active = {t.id for t in v.s.tickets if t.state in ACTIVE_TICKET_STATES}
    idle = _idle_surplus(v, taken, waiting_ids)
    for r in v.s.resources:
        pool = v.pools.get(r.pool)
        if r.id in v.s.busy or r.id in taken or pool is None or r.held:
            continue
        if r.state is R.UP:
            reason = _retire_reason(pool, r, v.s.now) or idle.get(r.id, "")
            if reason:
                yield Retire(r.id, reason)
            elif _livecheck_due(pool, r, v.s.now):
                yield Livecheck(r.id)
        elif r.state is R.TAKEN and r.ticket_id in active:
            if _livecheck_due(pool, r, v.s.now):
                yield Livecheck(r.id)
        elif r.state is R.RELEASING:
            yield Release(r.id)
        elif r.state is R.DELETE_REQUESTED and r.next_attempt_at <= v.s.now:
            yield Delete(r.id)


def _retire_reason(pool: Pool, r: Resource, now: float) -> str:
    if pool.removed:
        return "its pool was removed from pools.yaml"
    if pool.drained:
        return "its pool is drained"
    if r.sandbox is None:
        return ""
    if now - r.state_since >= pool.reuse_opportunity_time:
        return "no ticket of its sandbox came within reuse_opportunity_time"
    if now - r.created_at >= pool.reuse_max_time:
        return "older than reuse_max_time"
    return ""


def _spares_beyond_demand(
    v: View, taken: set[int], waiting_ids: frozenset[int]
) -> dict[str, list[Resource]]:
    """Per pool, the ready unreserved spares beyond `max_prealloc`: the longest idle ones."""
    spares: dict[str, list[Resource]] = defaultdict(list)
    for r in v.s.resources:
        if (
            r.state is R.UP
            and r.sandbox is None
            and not r.held
            and r.id not in taken
            and not v.reserved_for_other(r, None, waiting_ids)
        ):
            spares[r.pool].append(r)
    surplus: dict[str, list[Resource]] = {}
    for name, rs in spares.items():
        pool = v.pools.get(name)
        if pool is None or draining(pool):
            continue
        keep = 0 if pool.tags_on_demand else pool.max_prealloc
        rs.sort(key=lambda r: (-r.state_since, -r.id))  # the freshest are kept
        surplus[name] = rs[keep:]
    return surplus


def _idle_surplus(v: View, taken: set[int], waiting_ids: frozenset[int]) -> dict[int, str]:
    out = {}
    for name, rs in _spares_beyond_demand(v, taken, waiting_ids).items():
        pool = v.pools[name]
        for r in rs:
            if v.s.now - r.state_since >= pool.idle_time:
                out[r.id] = f"spare beyond max_prealloc, unused for idle_time ({pool.idle_time:g}s)"
    return out


def _livecheck_due(pool: Pool, r: Resource, now: float) -> bool:
    return bool(pool.cmd_livecheck) and livecheck_at(pool, r) <= now


def livecheck_at(pool: Pool, r: Resource) -> float:
    return (r.last_livecheck or r.state_since) + pool.livecheck_period


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


def wake_at(v: View, taken: set[int], waiting_ids: frozenset[int]) -> float | None:
    """The earliest future moment at which a timed rule will fire."""
    times: list[float] = []
    for r in v.s.resources:
        pool = v.pools.get(r.pool)
        if pool is None or r.held:
            continue
        if r.state in (R.UP, R.TAKEN) and pool.cmd_livecheck:
            times.append(livecheck_at(pool, r))
        if r.state is R.UP and r.sandbox is not None:
            times.append(r.state_since + pool.reuse_opportunity_time)
            times.append(r.created_at + pool.reuse_max_time)
        if r.state is R.DELETE_REQUESTED:
            times.append(r.next_attempt_at)
    for name, rs in _spares_beyond_demand(v, taken, waiting_ids).items():
        times += [r.state_since + v.pools[name].idle_time for r in rs]
    times += [
        t.expires_at
        for t in v.s.tickets
        if t.state in ACTIVE_TICKET_STATES and t.expires_at is not None
    ]
    future = [t for t in times if t > v.s.now]
    return min(future) if future else None
