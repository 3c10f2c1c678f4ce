"""The straightforward matching of single tickets (every ticket against every ready
resource; jobs are planner/jobs.py's), kept as the
specification the indexed one in assign.py must decide exactly like: a property test
compares them on random snapshots, and bench/planner_scale.py times both."""

from __future__ import annotations

from collections.abc import Iterator

from lessor.domain.matching import resource_fits
from lessor.domain.model import Resource, Ticket
from lessor.domain.states import ResourceState
from lessor.domain.users import permitted
from lessor.planner.actions import Assign
from lessor.planner.quotas import Quotas
from lessor.planner.rank import resource_rank
from lessor.planner.view import View


def reference_assign(v: View, queue: list[Ticket]) -> Iterator[Assign]:
    """Tickets in queue order; each takes the best ready resource that fits it.

    Best: the one started for it (on demand), then the highest rank (the
    cheapest pool, resalloc's tag priorities, reuse in its own sandbox), then
    the lowest id, so the outcome never depends on the order of the snapshot.
    """
    free = [r for r in v.s.resources if v.free(r)]
    quotas = Quotas(v.s, [r for r in v.s.resources if r.state is ResourceState.TAKEN])
    for t in queue:
        fitting = [r for r in free if _may_take(v, r, t) and quotas.allows(t, (r,))]
        if not fitting:
            continue
        best = max(fitting, key=lambda r: _preference(v, r, t))
        free.remove(best)
        quotas.take(t, (best,))
        yield Assign(t.id, best.id)


def _may_take(v: View, r: Resource, t: Ticket) -> bool:
    return (
        resource_fits(r, t)
        and not v.reserved_for_other(r, t.id, v.open_ids)
        and permitted(v.pools[r.pool].privilege, t.owner, v.s.privileges)
    )


def _preference(v: View, r: Resource, t: Ticket) -> tuple[bool, int, int]:
    return (r.reserved_for == t.id, resource_rank(r, t, v.pools[r.pool]), -r.id)
