"""Handing ready resources to waiting tickets."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

from lessor.domain.matching import resource_fits
from lessor.domain.model import Resource, Ticket
from lessor.planner.actions import Assign
from lessor.planner.rank import resource_rank
from lessor.planner.view import View


def assign(v: View, queue: list[Ticket]) -> Iterator[Assign]:
    """Tickets in queue order; each takes the best ready resource that fits it.

    Best: the one started for it (on demand), then the highest rank (the
    cheapest pool, resalloc's tag priorities, reuse in its own sandbox), then
    the lowest id, so the outcome never depends on the order of the snapshot.

    The same decisions as planner/reference.py, without matching every ticket
    against every resource: ready resources are indexed by what they are
    (pool and tags) and by sandbox, so a ticket looks only at the best of each
    kind that can fit it.
    """
    ready = _Ready.of(v)
    for t in queue:
        best = ready.best_for(v, t)
        if best is not None:
            yield Assign(t.id, best.id)


_Kind = tuple[str, frozenset[str]]
"""A pool and a set of tags: every ready resource of one kind ranks alike for a ticket,
apart from the reuse bonus (its sandbox) and its id."""


@dataclass
class _Ready:
    reserved: dict[int, list[Resource]]
    """Ready resources reserved for an open ticket: only that ticket may take them."""
    buckets: dict[_Kind, dict[str | None, list[Resource]]]
    """The others, by kind, then by sandbox (None: a spare for anyone), highest id first
    (so the best is popped from the end)."""
    kinds_for: dict[frozenset[str], list[_Kind]] = field(default_factory=dict)
    """Per requested tag set, the kinds whose tags include it."""
    ranks: dict[tuple[str, tuple[str, ...], bool], int] = field(default_factory=dict)
    """resource_rank per pool, requested tags and reuse in the ticket's sandbox: all it
    depends on."""

    @classmethod
    def of(cls, v: View) -> _Ready:
        reserved: dict[int, list[Resource]] = defaultdict(list)
        buckets: dict[_Kind, dict[str | None, list[Resource]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for r in sorted((r for r in v.s.resources if v.free(r)), key=lambda r: -r.id):
            if r.reserved_for is not None and r.reserved_for in v.open_ids:
                reserved[r.reserved_for].append(r)
            else:
                buckets[(r.pool, frozenset(r.tags))][r.sandbox].append(r)
        return cls(reserved, buckets)

    def best_for(self, v: View, t: Ticket) -> Resource | None:
        """Take (remove) the best ready resource for `t`, if one fits."""
        own = [r for r in self.reserved.get(t.id, ()) if resource_fits(r, t)]
        if own:
            best = max(own, key=lambda r: (resource_rank(r, t, v.pools[r.pool]), -r.id))
            self.reserved[t.id].remove(best)
            return best
        found: tuple[tuple[int, int], list[Resource]] | None = None
        for kind in self._kinds(frozenset(t.tags)):
            by_sandbox = self.buckets[kind]
            for sandbox in {None, t.sandbox}:
                rs = by_sandbox.get(sandbox)
                if not rs:
                    continue
                r = rs[-1]
                key = (self._rank(v, r, t), -r.id)
                if found is None or key > found[0]:
                    found = (key, rs)
        return found[1].pop() if found is not None else None

    def _rank(self, v: View, r: Resource, t: Ticket) -> int:
        key = (r.pool, t.tags, r.sandbox is not None and r.sandbox == t.sandbox)
        rank = self.ranks.get(key)
        if rank is None:
            rank = self.ranks[key] = resource_rank(r, t, v.pools[r.pool])
        return rank

    def _kinds(self, tags: frozenset[str]) -> list[_Kind]:
        kinds = self.kinds_for.get(tags)
        if kinds is None:
            kinds = self.kinds_for[tags] = [k for k in self.buckets if tags <= k[1]]
        return kinds
