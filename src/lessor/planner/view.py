"""What every rule of one plan looks at: the snapshot and the tickets still in play."""

from __future__ import annotations

from dataclasses import dataclass

from lessor.domain.model import Pool, Resource, Snapshot
from lessor.domain.states import ResourceState

R = ResourceState


@dataclass(frozen=True)
class View:
    s: Snapshot
    pools: dict[str, Pool]
    open_ids: frozenset[int]
    """Open tickets that neither expire nor fail in this plan."""

    @classmethod
    def of(cls, s: Snapshot, open_ids: frozenset[int]) -> View:
        return cls(s, {p.name: p for p in s.pools}, open_ids)

    def reserved_for_other(self, r: Resource, ticket_id: int | None, among: frozenset[int]) -> bool:
        """Whether `r` waits for another ticket; a reservation for a ticket gone is void."""
        return (
            r.reserved_for is not None and r.reserved_for != ticket_id and r.reserved_for in among
        )

    def free(self, r: Resource) -> bool:
        """An UP resource that may be handed out: not held, not mid-hook, its last livecheck
        passed (resalloc's rule), its pool not drained; a released one only to its sandbox."""
        pool = self.pools.get(r.pool)
        return (
            r.state is R.UP
            and not r.held
            and not r.busy
            and r.livecheck_failures == 0
            and (r.releases == 0 or r.sandbox is not None)
            and pool is not None
            and not draining(pool)
        )


def draining(pool: Pool) -> bool:
    """Drained by an admin, or removed from pools.yaml: it only winds down."""
    return pool.drained or pool.removed


def dead(pool: Pool, r: Resource) -> bool:
    """Livechecks: dead after `livecheck_attempts` failures in a row."""
    return bool(pool.cmd_livecheck) and r.livecheck_failures >= pool.livecheck_attempts
