"""Handing ready resources to waiting tickets, and to waiting jobs all at once."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import attrgetter

from lessor.domain.matching import resource_fits
from lessor.domain.model import Resource, Ticket
from lessor.domain.states import ResourceState as R
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

    The same decisions as planner/reference.py, without matching every ticket
    against every resource: ready resources are indexed by what they are
    (pool and tags) and by sandbox, so a ticket looks only at the best of each
    kind that can fit it, the spares' kinds best rank first.
    """
    ready = _Ready.of(v)
    out = Handouts()
    quotas = Quotas(v.s, v.facts.of_state(R.TAKEN))
    all_parts = v.facts.jobs
    queued = {t.id for t in queue}
    seen_jobs: set[int] = set()
    # Nobody's privileges or quotas to keep: any ticket may have any resource that fits.
    unbounded = not quotas.quotas and all(p.privilege is None for p in v.s.pools)
    for t in queue:
        if t.job_id is None and unbounded:
            best = ready.best_for(v, t, None)  # the common case: no closures to make
            if best is not None:
                out.actions.append(Assign(t.id, best.id))
            continue

        def privileged(r: Resource, t: Ticket = t) -> bool:
            return permitted(v.pools[r.pool].privilege, t.owner, v.s.privileges)

        def allowed(r: Resource, t: Ticket = t) -> bool:
            return privileged(r, t) and quotas.allows(t, (r,))

        if t.job_id is None:
            best = ready.best_for(v, t, allowed)
            if best is not None:
                quotas.take(t, (best,))
                out.actions.append(Assign(t.id, best.id))
            elif t.owner in quotas.quotas and (pools := ready.pools_fitting(t, privileged)):
                out.over_quota[t.id] = quotas.refusal(t, pools) or ""
            continue
        if t.job_id in seen_jobs:
            continue
        seen_jobs.add(t.job_id)
        parts = all_parts[t.job_id]
        if any(p.state is not TicketState.OPEN or p.id not in queued for p in parts):
            continue  # a part leaves the queue in this plan (expired): the job is not granted

        def fitting_part(
            p: Ticket, privileged: Callable[[Resource], bool] = privileged
        ) -> list[Resource]:
            return ready.fitting(v, p, privileged)

        matched = jobs.match(parts, fitting_part)
        if len(matched) == len(parts) and not quotas.allows(t, matched.values()):
            why = quotas.refusal(t, (r.pool for r in matched.values())) or "quota reached"
            out.over_quota.update({p.id: f"job {t.job_id}: {why}" for p in parts})
            continue  # its owner's quota, not the others', holds it back: nothing set aside
        quotas.take(t, matched.values() if len(matched) == len(parts) else ())
        for r in matched.values():
            ready.remove(r)  # granted: taken; else set aside for this job
        if len(matched) == len(parts):
            grants = tuple(
                Assign(p.id, matched[p.id].id) for p in sorted(parts, key=lambda p: p.id)
            )
            out.actions.append(GrantJob(t.job_id, grants))
        else:
            out.set_aside.update({pid: r.id for pid, r in matched.items()})
            out.waiting_jobs[t.job_id] = parts
    return out


_Kind = tuple[str, frozenset[str]]
"""A pool and a set of tags: every ready resource of one kind ranks alike for a ticket,
apart from the reuse bonus (its sandbox) and its id."""

_May = Callable[[Resource], bool]
"""Whether a ticket may take a resource beyond its fitting: its owner's privileges and
quota. It must depend on the resource's pool only, so that the best of a kind stands
for the whole kind."""


_id = attrgetter("id")
_NONE: dict[_Kind, list[Resource]] = {}

_Spares = tuple[int, _Kind, list[Resource]]
"""The spares (no sandbox) of one kind, with the rank of its pool for some requested tags."""


@dataclass
class _Ready:
    reserved: dict[int, list[Resource]]
    """Ready resources reserved for an open ticket: only that ticket may take them."""
    buckets: dict[_Kind, dict[str | None, list[Resource]]]
    """The others, by kind, then by sandbox (None: a spare for anyone), highest id first
    (so the best is popped from the end)."""
    in_sandbox: dict[str, dict[_Kind, list[Resource]]]
    """The same lists of released ones by sandbox first: the few kinds a ticket's sandbox
    has, rather than every kind."""
    kinds_for: dict[frozenset[str], list[_Kind]] = field(default_factory=dict)
    """Per requested tag set, the kinds whose tags include it."""
    spares_for: dict[tuple[str, ...], list[_Spares]] = field(default_factory=dict)
    """Per requested tags, the spares of every kind that fits them, best rank first; the
    kinds found empty are dropped as they are seen (nothing is added during a plan)."""
    ranks: dict[tuple[str, tuple[str, ...], bool], int] = field(default_factory=dict)
    """resource_rank per pool, requested tags and reuse in the ticket's sandbox: all it
    depends on."""

    @classmethod
    def of(cls, v: View) -> _Ready:
        reserved: dict[int, list[Resource]] = defaultdict(list)
        buckets: dict[_Kind, dict[str | None, list[Resource]]] = {}
        of_tags: dict[tuple[str, tuple[str, ...]], dict[str | None, list[Resource]]] = {}
        free = [r for r in v.facts.of_state(R.UP) if v.free(r)]
        free.sort(key=_id, reverse=True)
        for r in free:
            if r.reserved_for is not None and r.reserved_for in v.open_ids:
                reserved[r.reserved_for].append(r)
                continue
            by_sandbox = of_tags.get((r.pool, r.tags))
            if by_sandbox is None:  # a kind's frozenset is made once, not once a resource
                kind = (r.pool, frozenset(r.tags))
                by_sandbox = of_tags[(r.pool, r.tags)] = buckets.setdefault(kind, {})
            rs = by_sandbox.get(r.sandbox)
            if rs is None:
                rs = by_sandbox[r.sandbox] = []
            rs.append(r)
        in_sandbox: dict[str, dict[_Kind, list[Resource]]] = defaultdict(dict)
        for kind, by_sandbox in buckets.items():
            for sandbox, rs in by_sandbox.items():
                if sandbox is not None:
                    in_sandbox[sandbox][kind] = rs
        return cls(reserved, buckets, in_sandbox)

    def best_for(self, v: View, t: Ticket, may: _May | None) -> Resource | None:
        """Take (remove) the best ready resource for `t`, if one fits and it may have it
        (`may` None: it may have any)."""
        own = self.reserved.get(t.id)
        if own:
            mine = [r for r in own if resource_fits(r, t) and (may is None or may(r))]
            if mine:
                best = max(mine, key=lambda r: (resource_rank(r, t, v.pools[r.pool]), -r.id))
                own.remove(best)
                return best
        found: tuple[tuple[int, int], list[Resource]] | None = None
        spares = self._spares(v, t)
        emptied = False
        for rank, _, rs in spares:
            if found is not None and rank < found[0][0]:
                break  # ranked below the best found: so is every kind after it
            if not rs:
                emptied = True
                continue
            if may is not None and not may(rs[-1]):
                continue
            key = (rank, -rs[-1].id)
            if found is None or key > found[0]:
                found = (key, rs)
        if emptied:
            spares[:] = [s for s in spares if s[2]]
        if t.sandbox is not None:
            tags = frozenset(t.tags)
            for kind, rs in self.in_sandbox.get(t.sandbox, _NONE).items():
                if not rs or not tags <= kind[1] or (may is not None and not may(rs[-1])):
                    continue
                key = (self._rank(v, rs[-1], t), -rs[-1].id)
                if found is None or key > found[0]:
                    found = (key, rs)
        return found[1].pop() if found is not None else None

    def fitting(self, v: View, t: Ticket, may: _May) -> list[Resource]:
        """Every ready resource `t` may take, best first (a job's part chooses among them)."""
        own = [r for r in self.reserved.get(t.id, ()) if resource_fits(r, t) and may(r)]
        others = [
            r
            for kind in self._kinds(frozenset(t.tags))
            for sandbox in {None, t.sandbox}
            for r in self.buckets[kind].get(sandbox, ())
            if may(r)
        ]
        by_preference = sorted(others, key=lambda r: (self._rank(v, r, t), -r.id), reverse=True)
        own.sort(key=lambda r: (resource_rank(r, t, v.pools[r.pool]), -r.id), reverse=True)
        return own + by_preference

    def pools_fitting(self, t: Ticket, may: _May) -> list[str]:
        """The pools with a ready resource `t` fits and may take but for its quota."""
        pools = {r.pool for r in self.reserved.get(t.id, ()) if resource_fits(r, t) and may(r)}
        for kind in self._kinds(frozenset(t.tags)):
            for sandbox in {None, t.sandbox}:
                rs = self.buckets[kind].get(sandbox)
                if rs and may(rs[-1]):
                    pools.add(kind[0])
        return sorted(pools)

    def remove(self, r: Resource) -> None:
        """`r` is taken or set aside: no later ticket may have it."""
        own = self.reserved.get(r.reserved_for) if r.reserved_for is not None else None
        if own is not None and r in own:
            own.remove(r)
        else:
            self.buckets[(r.pool, frozenset(r.tags))][r.sandbox].remove(r)

    def _rank(self, v: View, r: Resource, t: Ticket) -> int:
        key = (r.pool, t.tags, r.sandbox is not None and r.sandbox == t.sandbox)
        rank = self.ranks.get(key)
        if rank is None:
            rank = self.ranks[key] = resource_rank(r, t, v.pools[r.pool])
        return rank

    def _spares(self, v: View, t: Ticket) -> list[_Spares]:
        spares = self.spares_for.get(t.tags)
        if spares is None:
            spares = self.spares_for[t.tags] = sorted(
                (
                    (self._rank(v, rs[-1], t), kind, rs)
                    for kind in self._kinds(frozenset(t.tags))
                    if (rs := self.buckets[kind].get(None))
                ),
                key=lambda s: -s[0],
            )
        return spares

    def _kinds(self, tags: frozenset[str]) -> list[_Kind]:
        kinds = self.kinds_for.get(tags)
        if kinds is None:
            kinds = self.kinds_for[tags] = [k for k in self.buckets if tags <= k[1]]
        return kinds
