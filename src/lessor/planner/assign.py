"""Handing ready resources to waiting tickets, and to waiting jobs all at once."""

from __future__ import annotations

from dataclasses import dataclass, field

from lessor.domain.matching import resource_fits
from lessor.domain.model import Resource, Ticket
from lessor.domain.states import TicketState
from lessor.domain.users import permitted
from lessor.planner import jobs
from lessor.planner.actions import Assign, GrantJob
from lessor.planner.quotas import Quotas
from lessor.planner.rank import resource_rank
from lessor.planner.view import View


@dataclass
class Handouts:
    actions: list[Assign | GrantJob] = field(default_factory=list)
    set_aside: dict[int, int] = field(default_factory=dict)
    """Resources set aside for parts of jobs that still wait: part ticket id -> resource id
    (planner/jobs.py); no later ticket takes them."""
    waiting_jobs: dict[int, list[Ticket]] = field(default_factory=dict)
    """The jobs that still wait, with their parts."""
    over_quota: dict[int, str] = field(default_factory=dict)
    """Tickets a ready resource fits but whose owner's quota is reached, and why."""


def assign(v: View, queue: list[Ticket]) -> Handouts:
    """Tickets in queue order; each takes the best ready resource that fits it. A job
    comes at the place of its first part and takes a resource for every part, or none
    (planner/jobs.py).

    Best: the one started for it (on demand), then the highest rank (the
    cheapest pool, resalloc's tag priorities, reuse in its own sandbox), then
    the lowest id, so the outcome never depends on the order of the snapshot.
    """
    free = [r for r in v.s.resources if v.free(r)]
    out = Handouts()
    quotas = Quotas(v.s)
    all_parts = jobs.parts_of(v.s.tickets)
    queued = {t.id for t in queue}
    seen_jobs: set[int] = set()
    for t in queue:
        if t.job_id is None:
            fitting = [r for r in free if _may_take(v, r, t)]
            allowed = [r for r in fitting if quotas.allows(t, (r,))]
            if fitting and not allowed:
                out.over_quota[t.id] = quotas.refusal(t, (r.pool for r in fitting)) or ""
            if not allowed:
                continue
            best = max(allowed, key=lambda r: _preference(v, r, t))
            free.remove(best)
            quotas.take(t, (best,))
            out.actions.append(Assign(t.id, best.id))
            continue
        if t.job_id in seen_jobs:
            continue
        seen_jobs.add(t.job_id)
        parts = all_parts[t.job_id]
        if any(p.state is not TicketState.OPEN or p.id not in queued for p in parts):
            continue  # a part leaves the queue in this plan (expired): the job is not granted

        def fitting_part(p: Ticket) -> list[Resource]:
            fit = [r for r in free if _may_take(v, r, p)]
            return sorted(fit, key=lambda r: _preference(v, r, p), reverse=True)

        matched = jobs.match(parts, fitting_part)
        if len(matched) == len(parts) and not quotas.allows(t, matched.values()):
            why = quotas.refusal(t, (r.pool for r in matched.values())) or "quota reached"
            out.over_quota.update({p.id: f"job {t.job_id}: {why}" for p in parts})
            continue  # its owner's quota, not the others', holds it back: nothing set aside
        quotas.take(t, matched.values() if len(matched) == len(parts) else ())
        for r in matched.values():
            free.remove(r)  # granted: taken; else set aside for this job
        if len(matched) == len(parts):
            grants = tuple(
                Assign(p.id, matched[p.id].id) for p in sorted(parts, key=lambda p: p.id)
            )
            out.actions.append(GrantJob(t.job_id, grants))
        else:
            out.set_aside.update({pid: r.id for pid, r in matched.items()})
            out.waiting_jobs[t.job_id] = parts
    return out


def _may_take(v: View, r: Resource, t: Ticket) -> bool:
    return (
        resource_fits(r, t)
        and not v.reserved_for_other(r, t.id, v.open_ids)
        and permitted(v.pools[r.pool].privilege, t.owner, v.s.privileges)
    )


def _preference(v: View, r: Resource, t: Ticket) -> tuple[bool, int, int]:
    return (r.reserved_for == t.id, resource_rank(r, t, v.pools[r.pool]), -r.id)
