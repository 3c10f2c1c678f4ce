"""Which resources may serve which tickets, and how well (resalloc's scoring)."""

from __future__ import annotations

from collections.abc import Iterable

from lessor.domain.model import Pool, Resource, Tag, Ticket

REUSE_BONUS = 500
"""Score added for a resource being reused in the ticket's own sandbox (as resalloc)."""


def offered_tags(pool: Pool) -> tuple[Tag, ...]:
    """Every tag the pool's resources carry: its normal and its on-demand tags (as resalloc)."""
    return pool.tags + pool.tags_on_demand


def offered_tag_names(pool: Pool) -> frozenset[str]:
    return frozenset(t.name for t in offered_tags(pool))


def pool_serves(pool: Pool, tags: Iterable[str]) -> bool:
    return set(tags) <= offered_tag_names(pool)


def unservable_tags(pools: Iterable[Pool], tags: Iterable[str]) -> list[str]:
    """The requested tags that no single pool offers together with the others.

    Empty when some pool can serve the request. Otherwise names what is missing,
    so the user learns which tag to fix instead of waiting forever.
    """
    pools = list(pools)
    wanted = list(dict.fromkeys(tags))
    if any(pool_serves(p, wanted) for p in pools):
        return []
    offered = set().union(*(offered_tag_names(p) for p in pools)) if pools else set()
    missing = [t for t in wanted if t not in offered]
    return missing or wanted


def resource_fits(resource: Resource, ticket: Ticket) -> bool:
    """A resource fits when it has every tag and its sandbox does not belong to someone else."""
    if not set(ticket.tags) <= set(resource.tags):
        return False
    return resource.sandbox is None or resource.sandbox == ticket.sandbox


def score(resource: Resource, ticket: Ticket, pool: Pool | None) -> int:
    """Sum of the priorities of the requested tags in the resource's pool, +500 for reuse."""
    priorities = {t.name: t.priority for t in offered_tags(pool)} if pool else {}
    total = sum(priorities.get(t, 0) for t in ticket.tags)
    if resource.sandbox is not None and resource.sandbox == ticket.sandbox:
        total += REUSE_BONUS
    return total
