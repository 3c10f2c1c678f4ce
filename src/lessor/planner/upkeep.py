"""Everything a resource needs besides a ticket: recycling, trimming, checks, deletion, expiry.

Each rule of docs/policy.md that is not about who gets what is a named
predicate or generator here; the timed ones ask the plan's Timer whether
they are due, which is how the plan knows when to wake next.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from lessor.domain.model import Pool, Resource
from lessor.domain.states import ResourceState
from lessor.planner.actions import (
    Action,
    Delete,
    ExpireTicket,
    Extend,
    FailTicket,
    FinishRelease,
    Livecheck,
    Recycle,
    Release,
    Retire,
)
from lessor.planner.timer import Timer
from lessor.planner.view import View, dead, draining

R = ResourceState


def expire(v: View, timer: Timer) -> Iterator[ExpireTicket]:
    """Leases: an active ticket whose TTL ran out without a renewal is closed."""
    for t in v.facts.leased:
        if timer.due(t.expires_at):
            ttl = f" of {t.ttl:g}s" if t.ttl is not None else ""
            yield ExpireTicket(t.id, f"expired: not extended within its TTL{ttl}")


def recycle(v: View) -> Iterator[Recycle]:
    """A TAKEN resource whose ticket is no longer active goes back, or away (held ones stay).

    As resalloc, cmd_release runs whenever the pool has one, whether or not
    the resource is to be reused: some administrators' cmd_release collects
    what a job left. A resource released but not to be reused is deleted
    once it has run (see _retire_reason).
    """
    ended = v.facts.ended
    for r in v.facts.orphans:
        if r.busy or r.held:
            continue
        ticket = ended.get(r.ticket_id) if r.ticket_id is not None else None
        sandbox = ticket.sandbox if ticket else r.sandbox
        pool = v.pools.get(r.pool)
        if pool is None:
            yield Recycle(r.id, reuse=False)
        else:
            reuse = may_reuse(pool, r, sandbox, v.s.now)
            yield Recycle(r.id, reuse=reuse, release_hook=needs_release_hook(pool))


def may_reuse(pool: Pool, r: Resource, sandbox: str | None, now: float) -> bool:
    """Sandbox reuse: whether the resource may serve another ticket of `sandbox` once its
    current one ended: only within one sandbox, within the pool's limits (a resource
    serves `reuse_max_count` + 1 tickets; `reuse_max_time` counts from its first
    assignment), never a dead one, never in a draining pool."""
    if not pool.reuses or sandbox is None or draining(pool) or dead(pool, r):
        return False
    if pool.reuse_max_count and r.releases + 1 > pool.reuse_max_count:
        return False
    return not pool.reuse_max_time or now < sandboxed_since(r) + pool.reuse_max_time


def sandboxed_since(r: Resource) -> float:
    """When the resource got its first ticket (resalloc's sandboxed_since)."""
    return r.sandboxed_since if r.sandboxed_since is not None else r.created_at


def needs_release_hook(pool: Pool) -> bool:
    """A closed ticket's resource runs cmd_release first, if its pool has one."""
    return bool(pool.cmd_release)


def spares_kept(pool: Pool) -> int:
    """The spares a pool keeps ready or starting: `max_prealloc` (or the target sized for the
    hour by target_wait), none for an on-demand pool (resalloc) or a draining one."""
    if pool.tags_on_demand or draining(pool):
        return 0
    return pool.prealloc


def maintain(
    v: View, taken: set[int], waiting_ids: frozenset[int], timer: Timer
) -> Iterator[Action]:
    """Retire what is not needed, check what is ready or in use, release, delete."""
    active = v.facts.active
    leases = {t.id: t.expires_at for t in v.facts.leased}
    idle = _idle_surplus(v, taken, waiting_ids, timer)
    for r in v.facts.upkept:
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
            if dead(pool, r):
                # As resalloc: its ticket fails (and still yields the data), it is deleted.
                assert r.ticket_id is not None
                yield FailTicket(r.ticket_id, dead_message(r))
                yield Retire(r.id, _dead_reason(r))
            elif _extend_due(pool, r, leases.get(r.ticket_id or -1)):
                yield Extend(r.id)
            elif _livecheck_due(pool, r, timer):
                yield Livecheck(r.id)
        elif r.state is R.RELEASING:
            yield Release(r.id) if needs_release_hook(pool) else FinishRelease(r.id)
        elif r.state is R.DELETE_REQUESTED and timer.due(r.next_attempt_at):
            yield Delete(r.id, hook=bool(pool.cmd_delete))


def _extend_due(pool: Pool, r: Resource, expires_at: float | None) -> bool:
    """A credential told an end its ticket's lease has since outgrown (the ticket was
    extended) is told the new one. One told no end, or in a pool without cmd_extend, is
    not: it lives until cmd_delete revokes it, or until the end it was told."""
    return (
        bool(pool.cmd_extend)
        and r.valid_until is not None
        and expires_at is not None
        and expires_at > r.valid_until
    )


def _retire_reason(pool: Pool, r: Resource, timer: Timer) -> str:
    """Why an UP resource goes (empty: it stays): drained, dead, released but not to be
    reused, its reuse window over."""
    if pool.removed:
        return "its pool was removed from pools.yaml"
    if pool.drained:
        return "its pool is drained"
    if dead(pool, r):
        return _dead_reason(r)
    if r.sandbox is None and r.releases == 0:
        return ""  # a spare
    if r.sandbox is None or not pool.reuses:
        return "released; its pool does not reuse it"
    if pool.reuse_max_count and r.releases > pool.reuse_max_count:
        return f"released {r.releases} times: reuse_max_count ({pool.reuse_max_count})"
    if timer.due(r.state_since + pool.reuse_opportunity_time):
        return "no ticket of its sandbox came within reuse_opportunity_time"
    if pool.reuse_max_time and timer.due(sandboxed_since(r) + pool.reuse_max_time):
        return "first assigned longer than reuse_max_time ago"
    return ""


def _dead_reason(r: Resource) -> str:
    return f"{r.livecheck_failures} livechecks failed in a row: {r.message}"


def spares_beyond_demand(
    v: View, taken: set[int], waiting_ids: frozenset[int]
) -> dict[str, list[Resource]]:
    """Gradual allocation: per pool, the ready unreserved spares beyond those it keeps (the
    longest idle ones; the freshest are kept)."""
    spares: dict[str, list[Resource]] = defaultdict(list)
    for r in v.facts.of_state(R.UP):
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
    """An UP resource never assigned (of no sandbox, never released) that no ticket has or
    waits for (held or dead ones are not)."""
    pool = v.pools.get(r.pool)
    return (
        r.state is R.UP
        and r.sandbox is None
        and r.releases == 0
        and not r.held
        and r.id not in taken
        and not v.reserved_for_other(r, None, waiting_ids)
        and not (pool is not None and dead(pool, r))
    )


def _idle_surplus(
    v: View, taken: set[int], waiting_ids: frozenset[int], timer: Timer
) -> dict[int, str]:
    out: dict[int, str] = {}
    for name, rs in spares_beyond_demand(v, taken, waiting_ids).items():
        pool = v.pools[name]
        if pool.tags_on_demand:  # as resalloc: a leftover nobody waits for goes at once
            out.update((r.id, "started on demand for a ticket that no longer waits") for r in rs)
            continue
        if pool.credential:  # a live secret nobody holds
            out.update((r.id, "a credential minted for a ticket that no longer waits") for r in rs)
            continue
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


def dead_message(r: Resource) -> str:
    """What a ticket whose resource died is told."""
    why = f": {r.message}" if r.message else ""
    failed = f"{r.livecheck_failures} livechecks failed in a row"
    return f"resource {r.name} is not responding ({failed}){why}"
