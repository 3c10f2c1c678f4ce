"""How good a pool or a ready resource is for a ticket: one order to hand out and to start."""

from __future__ import annotations

from collections.abc import Collection, Iterable

from lessor.domain.matching import offered_tags, score
from lessor.domain.model import Pool, Resource, Ticket


def pool_rank(pool: Pool, tags: Collection[str]) -> int:
    """The pool's priority plus those of the requested tags in it: higher is cheaper.

    The tag part is resalloc's scoring (`tags: [{name: x, priority: 10}]`);
    the pool's own `priority` ranks pools that offer the same tags alike.
    """
    return pool.priority + sum(t.priority for t in offered_tags(pool) if t.name in tags)


def resource_rank(resource: Resource, ticket: Ticket, pool: Pool) -> int:
    """resalloc's score (tag priorities, +500 for reuse in the ticket's sandbox) plus the pool's."""
    return pool.priority + score(resource, ticket, pool)


def by_rank(pools: Iterable[Pool], tags: Collection[str]) -> list[Pool]:
    """Cheapest first; pools of equal rank by name, as resalloc orders its on-demand pools
    (so the order of pools.yaml never decides)."""
    return sorted(pools, key=lambda p: (-pool_rank(p, tags), p.name))


def asks_on_demand(pool: Pool, ticket: Ticket) -> bool:
    """Whether the ticket asks for one of the pool's on-demand tags (so it may start one)."""
    return any(t.name in ticket.tags for t in pool.tags_on_demand)
