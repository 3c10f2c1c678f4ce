"""Use cases of the allocation policy: leases, holds, drains, reloading pools, why a ticket waits.

A mixin of LessorService, kept apart so that each module stays about one thing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, fields

from lessor.config.yamlfile import ConfigError
from lessor.domain.model import Pool, Resource, Snapshot, Ticket
from lessor.domain.states import ACTIVE_TICKET_STATES, ResourceState, TicketState
from lessor.planner.plan import plan
from lessor.service.errors import Conflict, InvalidRequest, NotFound
from lessor.service.executor import writes
from lessor.service.keys import ANONYMOUS, Proof
from lessor.service.signals import Signals
from lessor.store.interface import Store

log = logging.getLogger(__name__)
R = ResourceState

MAX_TTL = 30 * 24 * 3600.0
"""A month: a longer lease is a typo, and a lease forgotten for longer costs real money."""

REMOVED = "removed from pools.yaml"
SERVED_NOW = "a resource is ready for it: it is being assigned"


@dataclass(frozen=True)
class Reloaded:
    """What a reload of pools.yaml changed."""

    pools: tuple[Pool, ...]
    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]


def _state_of(pool: Pool) -> dict[str, object]:
    """The state fields of a stored pool (those the database keeps), to lay over its
    definition as configured now."""
    return {f.name: getattr(pool, f.name) for f in fields(Pool) if f.metadata.get("state")}


def check_ttl(ttl: float | None) -> None:
    if ttl is not None and not 0 < ttl <= MAX_TTL:
        raise InvalidRequest(f"ttl: must be more than 0 and at most {MAX_TTL:g} seconds")


class PolicyCases:
    store: Store
    signals: Signals
    clock: Callable[[], float]
    pools: tuple[Pool, ...]
    snapshot: Callable[[], Snapshot]
    authorize: Callable[[Ticket, Proof, str], None]
    pools_loader: Callable[[], tuple[Pool, ...]] | None = None
    """Reads pools.yaml again (set by the server); without it there is nothing to reload."""
    _last_pools: tuple[Pool, ...] | None = None

    # ---- pools as configured, drained, removed ------------------------------

    def effective_pools(self) -> tuple[Pool, ...]:
        """The configured pools with their drain state, and removed ones that still have resources.

        A pool's state (its drain, its last start and failures) lives in the
        database, so every server sharing it agrees.
        """
        stored = {p.name: p for p in self.store.stored_pools()}
        pools = []
        for p in self.pools:
            saved = stored.get(p.name)
            pools.append(p if saved is None else p.evolve(**_state_of(saved)))
        configured = {p.name for p in self.pools}
        leftovers = [p for name, p in stored.items() if name not in configured]
        if leftovers:
            alive = self.store.pool_counts()
            pools += [
                p.evolve(drained=True, removed=True, drain_reason=REMOVED)
                for p in leftovers
                if any(alive.get(p.name, {}).values())
            ]
        self._last_pools = tuple(pools)
        return self._last_pools

    def recent_pools(self) -> tuple[Pool, ...]:
        """effective_pools() as last read: by every reconciler pass, drain, undrain and reload.

        For the fast path of opening a ticket, which must not pay a query
        for a drain state that changes a few times a year.
        """
        return self._last_pools if self._last_pools is not None else self.effective_pools()

    @writes
    def remember_pools(self) -> None:
        """Keep the configured pools' definitions, so a pool removed later can still wind down."""
        self.store.save_pool_definitions(self.pools, self.clock())

    def _effective_pool(self, name: str) -> Pool:
        pool = next((p for p in self.effective_pools() if p.name == name), None)
        if pool is None:
            raise NotFound(f"pool {name!r} does not exist")
        return pool

    @writes
    def drain_pool(self, name: str, reason: str = "") -> Pool:
        """No new resources, spares deleted, assigned ones kept until their tickets close."""
        pool = self._effective_pool(name)
        if not pool.removed:
            self.store.set_drained(name, True, reason.strip(), self.clock())
            self.signals.wake_reconciler()
        return self._effective_pool(name)

    @writes
    def undrain_pool(self, name: str) -> Pool:
        pool = self._effective_pool(name)
        if pool.removed:
            raise Conflict(f"pool {name!r} was {REMOVED}; add it back there and reload")
        self.store.set_drained(name, False, "", self.clock())
        self.signals.wake_reconciler()
        return self._effective_pool(name)

    @writes
    def reload_pools(self) -> Reloaded:
        """Read pools.yaml again and use it from the next pass on; a removed pool drains.

        A file with an error changes nothing: the pools in use stay, and the
        error names the file and line.
        """
        if self.pools_loader is None:
            raise Conflict("this server was not started from a pools.yaml; nothing to reload")
        try:
            new = self.pools_loader()
        except ConfigError as e:
            raise InvalidRequest(f"pools not reloaded: {e}") from e
        old = {p.name: p for p in self.pools}
        names = {p.name for p in new}
        result = Reloaded(
            pools=new,
            added=tuple(p.name for p in new if p.name not in old),
            removed=tuple(n for n in old if n not in names),
            changed=tuple(p.name for p in new if p.name in old and old[p.name] != p),
        )
        self.pools = new
        self.remember_pools()
        self.effective_pools()
        self.signals.wake_reconciler()
        log.warning(
            "pools reloaded: %d pools; added %s, removed %s, changed %s",
            len(new),
            list(result.added) or "none",
            list(result.removed) or "none",
            list(result.changed) or "none",
        )
        return result

    @writes
    def reload_in_background(self) -> None:
        """For SIGHUP: reload, and log the error instead of raising it."""
        try:
            self.reload_pools()
        except (InvalidRequest, Conflict) as e:
            log.error("%s", e)

    # ---- leases --------------------------------------------------------

    @writes
    def extend_ticket(
        self, ticket_id: int, ttl: float | None = None, proof: Proof = ANONYMOUS
    ) -> Ticket:
        """Renew a lease for `ttl` seconds from now (by default the ticket's own TTL); its
        holder or an admin only: a stranger could expire it (ttl 0.001)."""
        check_ttl(ttl)
        ticket = self._ticket(ticket_id)
        self.authorize(ticket, proof, "extend")
        if ticket.state not in ACTIVE_TICKET_STATES:
            raise Conflict(
                f"ticket {ticket_id} is {ticket.state}; only an open one can be extended"
            )
        ttl = ttl if ttl is not None else ticket.ttl
        if ttl is None:
            raise InvalidRequest(f"ticket {ticket_id} has no TTL; say for how long (ttl)")
        if not self.store.extend_ticket(ticket_id, ttl, self.clock()):
            raise Conflict(f"ticket {ticket_id} ended meanwhile; it cannot be extended")
        self.signals.wake_reconciler()  # its expiry moved: the next wake-up time too
        return self._ticket(ticket_id)

    def _ticket(self, ticket_id: int) -> Ticket:
        ticket = self.store.get_ticket(ticket_id)
        if ticket is None:
            raise NotFound(f"ticket {ticket_id} does not exist")
        return ticket

    # ---- holds ---------------------------------------------------------

    @writes
    def hold_resource(self, resource_id: int, reason: str) -> Resource:
        """Keep a resource as it is for diagnosis: never assigned, never deleted, until unheld."""
        reason = reason.strip() or "held by an admin"
        resource = self._resource(resource_id)
        if resource.state in (R.DELETING, R.ENDED):
            raise Conflict(f"resource {resource_id} is {resource.state}; too late to hold it")
        if not self.store.hold_resource(resource_id, reason, self.clock()):
            raise Conflict(f"resource {resource_id} changed state; try again")
        self.signals.wake_reconciler()
        return self._resource(resource_id)

    @writes
    def unhold_resource(self, resource_id: int) -> Resource:
        resource = self._resource(resource_id)
        if resource.held and not self.store.unhold_resource(resource_id, self.clock()):
            raise Conflict(f"resource {resource_id} changed state; try again")
        self.signals.wake_reconciler()
        return self._resource(resource_id)

    def _resource(self, resource_id: int) -> Resource:
        resource = self.store.get_resource(resource_id)
        if resource is None:
            raise NotFound(f"resource {resource_id} does not exist")
        return resource

    # ---- why is my ticket waiting? -------------------------------------

    def why_waiting(self, tickets: Collection[Ticket]) -> dict[int, str]:
        """Why each of these open tickets has no resource yet, in the planner's words.

        A plan of the database as it is now says it, so every server sharing
        the database says the same; only when a ticket is open at all.
        """
        waiting = [t for t in tickets if t.state is TicketState.OPEN]
        if not waiting:
            return {}
        fresh = plan(self.snapshot()).reasons
        return {t.id: fresh.get(t.id) or SERVED_NOW for t in waiting}
