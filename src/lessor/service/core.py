"""The use cases: what the API, the CLI (through the API) and the reconciler may do.

Each one is a single store transaction plus the wake-ups it implies; none of
them runs a hook or waits on one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from lessor.domain.events import Event, EventFilter
from lessor.domain.matching import pool_serves, unservable_tags
from lessor.domain.model import Pool, Resource, Snapshot, Ticket
from lessor.domain.paging import Page
from lessor.domain.states import LIVE_RESOURCE_STATES, ResourceState, TicketState
from lessor.planner.messages import no_pool_message
from lessor.planner.plan import assignments, recycling
from lessor.service import events, keys
from lessor.service.apply import Applier
from lessor.service.errors import (
    Conflict,
    InvalidRequest,
    KeyNeeded,
    KeyRefused,
    NoPoolForTags,
    NotFound,
)
from lessor.service.executor import writes
from lessor.service.feed import Feed
from lessor.service.jobs import JobCases
from lessor.service.keys import ANONYMOUS, Proof, Who
from lessor.service.metrics import Metrics
from lessor.service.policy import PolicyCases, check_ttl
from lessor.service.signals import SOON, UPKEEP, Signals
from lessor.service.sizing import SizingCases
from lessor.service.users import UserCases
from lessor.store.interface import Store

R = ResourceState

DELETED = "deleted by an admin"


@dataclass(frozen=True)
class Access:
    """What resalloc's XML-RPC, which carries no key, may do (server.yaml)."""

    resalloc_xmlrpc: bool = True
    """Serve resalloc's XML-RPC at all: its callers, who carry no key, may then close a
    ticket by its id alone, as resalloc lets anyone (server.yaml `xmlrpc`)."""
    resalloc_secrets: bool = False
    """Give resalloc's XML-RPC a secret_data pool's data (`xmlrpc_secret_data`)."""


AS_RESALLOC = Access()
"""resalloc's defaults: XML-RPC served, no secret data over it."""


@dataclass(frozen=True)
class PoolStatus:
    pool: Pool
    counts: dict[ResourceState, int]


@dataclass(frozen=True)
class TicketAndResource:
    """A ticket and the resource it has or had: what a use case on one ticket answers."""

    ticket: Ticket
    resource: Resource | None
    key: str | None = None
    """The ticket's key, in the answer that opened it only."""


class LessorService(JobCases, UserCases, PolicyCases, SizingCases):
    """The use cases over one store. They open no transactions and do not know where they
    run: an executor runs each (as one transaction if it is marked `@writes`)."""

    def __init__(
        self,
        store: Store,
        pools: tuple[Pool, ...],
        signals: Signals | None = None,
        clock: Callable[[], float] = time.time,
        owner: str = "",
        access: Access = AS_RESALLOC,
    ) -> None:
        self.store = store
        self.pools = pools
        self.signals = signals or Signals()
        self.clock = clock
        self.metrics = Metrics()
        self.applier = Applier(store, owner)
        """Applies plans and hook outcomes; `owner` names this server in its hook claims."""
        self.access = access
        """What callers without a key may do (server.yaml's xmlrpc keys)."""
        self.feed = Feed(self.signals, self.list_events)
        """The one reader of the event log every follower takes its events from."""

    def events_committed(self, batch: list[Event]) -> None:
        """Called by the store's unit of work once a transaction's events are committed."""
        self.metrics.observe(batch)
        self.signals.events_recorded()

    def pool(self, name: str) -> Pool | None:
        return next((p for p in self.pools if p.name == name), None)

    def _known_pool(self, name: str) -> Pool | None:
        """The pool as configured, or, removed from pools.yaml, as it was last loaded."""
        return self.pool(name) or next((p for p in self.recent_pools() if p.name == name), None)

    def data_is_secret(self, pool_name: str) -> bool:
        """Whether listings and the web UI must not show this pool's resource data. A pool
        removed from pools.yaml is as it was last loaded; one not known at all counts as
        secret (it may have been): it fails closed."""
        pool = self._known_pool(pool_name)
        return pool is None or pool.secret_data

    def data_is_owners_only(self, pool_name: str) -> bool:
        """Whether only a ticket's holder may see this pool's resource data, not even an admin:
        a minted credential is scoped to one ticket (docs/security.md). Fails closed, as
        data_is_secret does."""
        pool = self._known_pool(pool_name)
        return pool is None or pool.credential

    def snapshot(self) -> Snapshot:
        """Everything the planner looks at, as the database has it now."""
        return Snapshot(
            now=self.clock(),
            pools=self.effective_pools(),
            resources=tuple(self.store.live_resources()),
            tickets=tuple(self.store.tickets_for_snapshot()),
            **self.user_limits(),
        )

    # ---- tickets -------------------------------------------------------

    @writes
    def open_ticket(
        self,
        tags: list[str],
        sandbox: str | None = None,
        priority: int = 0,
        ttl: float | None = None,
        idempotency_key: str | None = None,
        *,
        refuse_unservable: bool = True,
        tidy_tags: bool = True,
        owner: str | None = None,
    ) -> TicketAndResource:
        """`ttl`: a lease, closed unless extended within that many seconds (see extend_ticket).
        `idempotency_key`: a retried open answers the ticket (and key) the first one made.
        The answer carries the ticket's key: the one time it is told.

        lessor's API refuses at once what would wait for ever: tags no pool
        provides (`refuse_unservable`), and no tag or a blank one, blanks
        around a tag dropped (`tidy_tags`). resalloc's protocol takes tags as
        sent and lets such a ticket wait, saying why, until a reload adds a pool
        that provides them; an empty tag set fits any resource.
        """
        if tidy_tags:
            tags = [t.strip() for t in tags]
            if not tags or any(not t for t in tags):
                raise InvalidRequest("a ticket needs at least one non-empty tag")
        check_ttl(ttl)
        missing = unservable_tags(self.pools, tags) if refuse_unservable else []
        if missing:
            raise NoPoolForTags(no_pool_message(missing), missing)
        self.check_privilege(tags, owner)
        unique = list(dict.fromkeys(tags))
        secret = self.store.secret() if idempotency_key is not None else b""
        key = keys.new_key(secret, idempotency_key)
        ticket = self.store.open_ticket(
            unique,
            sandbox,
            priority,
            self.clock(),
            ttl=ttl,
            key_hash=keys.key_hash(key),
            idempotency_key=idempotency_key,
        )
        if ticket.key_hash != keys.key_hash(key):
            raise Conflict("Idempotency-Key: already used by a request of another database")
        if (list(ticket.tags), ticket.sandbox, ticket.priority, ticket.ttl) != (
            unique,
            sandbox,
            priority,
            ttl,
        ):
            raise Conflict(
                f"Idempotency-Key: already used for another request (ticket {ticket.id}); "
                "make a new one for each ticket"
            )
        if ticket.state is not TicketState.OPEN:  # a retry of an open long answered
            return TicketAndResource(ticket, self.resource_of(ticket), key)
        quota_bound = False
        if owner is not None:
            self.store.set_owner([ticket.id], owner)
            ticket = ticket.evolve(owner=owner)
            user = self.store.get_user(owner)
            quota_bound = user is not None and bool(user.quotas)
        # a quota is counted by the planner over all the owner holds: no fast path for it
        held = TicketAndResource(ticket, None) if quota_bound else self._assign_at_once(ticket)
        # taken at once: only the spares to top up; else the reconciler must find it one
        self.signals.wake_reconciler(UPKEEP if held.resource is not None else 0.0)
        return TicketAndResource(held.ticket, held.resource, key)

    def _assign_at_once(self, ticket: Ticket) -> TicketAndResource:
        """The fast path: a ready spare goes to a new ticket within its own request.

        Taken only when no older ticket waits, so queue order stays the
        planner's; the planner itself picks the spare, from a snapshot of
        just this ticket and the free resources of the pools that could
        serve it, so the rules live in one place. Otherwise the reconciler
        pass the new ticket wakes decides.
        """
        pools = self.recent_pools()  # a drained pool's spares are not handed out
        serving = [p.name for p in pools if pool_serves(p, ticket.tags)]
        if not serving or self.store.open_tickets_before(ticket.id):
            return TicketAndResource(ticket, None)
        # The planner's first choice in each pool is the first of these (see Store.spares).
        spares = tuple(self.store.spares(serving, ticket.sandbox, 1))
        if not spares:
            return TicketAndResource(ticket, None)
        now = self.clock()
        for action in assignments(Snapshot(now, pools, spares, (ticket,))):
            spare = next(r for r in spares if r.id == action.resource_id)
            taken = self.store.assign_opened(ticket, spare, now)
            if taken is not None:
                return TicketAndResource(*taken)
        return TicketAndResource(ticket, None)

    def get_ticket(self, ticket_id: int) -> Ticket:
        ticket = self.store.get_ticket(ticket_id)
        if ticket is None:
            raise NotFound(f"ticket {ticket_id} does not exist")
        return ticket

    @writes
    def close_ticket(self, ticket_id: int, proof: Proof = ANONYMOUS) -> TicketAndResource:
        """Close it (its holder or an admin only), and give its resource back in the same
        transaction when no hook has to run for that: a resource reused without
        cmd_release is ready for the next ticket of its sandbox at once, with no
        reconciler pass in between."""
        now = self.clock()
        closed = None
        if self._privileged(proof):
            closed = self.store.close_ticket(ticket_id, now)
        elif proof.key is not None:  # checked as it closes: the hot path is one statement
            closed = self.store.close_ticket(ticket_id, now, keys.key_hash(proof.key))
        if closed is None and proof.user is not None and self._owned(ticket_id, proof.user):
            closed = self.store.close_ticket(ticket_id, now)
        if closed is None:  # no such ticket, not the caller's, or closed already
            ticket = self.get_ticket(ticket_id)
            self.authorize(ticket, proof, "close")
            return TicketAndResource(ticket, self.resource_of(ticket))
        ticket, resource = closed
        resource = self._recycle_at_once(ticket, resource, now)
        if ticket.job_id is not None:
            self._end_rest_of_job(ticket, now)
        self.signals.ticket_changed(ticket_id)
        reused = resource is not None and resource.state is R.UP
        # a resource up again at once matters now only to tickets that wait
        self.signals.wake_reconciler(UPKEEP if reused and not self.signals.waiting else SOON)
        return TicketAndResource(ticket, resource)

    def _recycle_at_once(
        self, ticket: Ticket, resource: Resource | None, now: float
    ) -> Resource | None:
        """The planner's decision for the freed resource (reuse or delete), applied now.

        The planner sees only this ticket and its resource, so the rules of
        reuse stay in one place; whatever needs a hook (cmd_release,
        cmd_delete) is left to the reconciler, which the close wakes.
        """
        if resource is None or resource.state is not R.TAKEN or resource.busy:
            return resource
        snapshot = Snapshot(now, self.recent_pools(), (resource,), (ticket,))
        recycle = next(iter(recycling(snapshot)), None)
        if recycle is None:
            return resource
        reused = self.applier.recycle(recycle, resource, ticket, now)
        return reused if reused is not None else self.store.get_resource(resource.id)

    def authorize(self, ticket: Ticket, proof: Proof, what: str) -> None:
        """Raise unless the proof is of the ticket's holder or an admin (or, for what resalloc
        lets anyone do, resalloc's XML-RPC where the server allows it)."""
        if self._privileged(proof) or proof.who(ticket.key_hash, ticket.owner) is Who.HOLDER:
            return
        if proof.key is not None:
            raise KeyRefused(f"ticket {ticket.id}: the ticket key given is not this ticket's")
        raise KeyNeeded(
            f"ticket {ticket.id}: to {what} it, give its key ({keys.HEADER}: KEY, what "
            "opening it answered) or the admin token"
        )

    def _owned(self, ticket_id: int, user: str) -> bool:
        ticket = self.store.get_ticket(ticket_id)
        return ticket is not None and ticket.owner == user

    def _privileged(self, proof: Proof) -> bool:
        """An admin, or resalloc's XML-RPC (which lets anyone end any ticket) where allowed."""
        return proof.admin or (proof.resalloc and self.access.resalloc_xmlrpc)

    def data_for(self, held: TicketAndResource, proof: Proof) -> bytes | None:
        """The resource data this caller may see of the ticket: all of it, but a secret pool's
        only for the ticket's holder (or an admin, but for a credential) while the ticket is
        not closed, and over resalloc's XML-RPC (which carries no key) only where the server
        allows it."""
        r = held.resource
        if r is None or r.data is None:
            return None
        if not self.data_is_secret(r.pool):
            return r.data
        if held.ticket.state is TicketState.CLOSED:
            return None
        if proof.resalloc:
            return r.data if self.access.resalloc_secrets else None
        if self.data_is_owners_only(r.pool):
            return r.data if proof.holds(held.ticket.key_hash, held.ticket.owner) else None
        who = proof.who(held.ticket.key_hash, held.ticket.owner)
        return r.data if who is not Who.ANONYMOUS else None

    def list_tickets(
        self, states: list[TicketState] | None = None, page: Page | None = None
    ) -> list[Ticket]:
        return self.store.list_tickets(states, page)

    # ---- resources -----------------------------------------------------

    def get_resource(self, resource_id: int) -> Resource:
        resource = self.store.get_resource(resource_id)
        if resource is None:
            raise NotFound(f"resource {resource_id} does not exist")
        return resource

    def resource_of(self, ticket: Ticket) -> Resource | None:
        """The resource a ticket holds or held, for showing its data."""
        return self.store.get_resource(ticket.resource_id) if ticket.resource_id else None

    def list_resources(
        self,
        states: list[ResourceState] | None = None,
        pool: str | None = None,
        page: Page | None = None,
    ) -> list[Resource]:
        return self.store.list_resources(states, pool, page)

    @writes
    def delete_resource(self, resource_id: int) -> Resource:
        """Ask for deletion; cmd_delete runs as soon as no other hook runs on it. As
        resalloc's, the ticket that holds it fails (and still yields its data)."""
        resource = self.get_resource(resource_id)
        allowed = LIVE_RESOURCE_STATES - {R.DELETING, R.DELETE_REQUESTED}
        if resource.state in (R.DELETING, R.DELETE_REQUESTED, R.ENDED):
            return resource
        if resource.held:
            raise Conflict(
                f"resource {resource_id} is on hold ({resource.hold_reason}); unhold it first"
            )
        now = self.clock()
        if not self.store.request_delete(resource_id, allowed, DELETED, now):
            raise Conflict(f"resource {resource_id} changed state; try again")
        if resource.state is R.TAKEN and resource.ticket_id is not None:
            why = f"resource {resource.name} was deleted by an admin"
            if self.store.fail_ticket(resource.ticket_id, why, now):
                self.signals.ticket_changed(resource.ticket_id)
                self._end_rest_of_job(self.get_ticket(resource.ticket_id), now)
        self.signals.wake_reconciler()
        return self.get_resource(resource_id)

    # ---- events --------------------------------------------------------

    def list_events(self, f: EventFilter) -> list[Event]:
        return self.store.list_events(f)

    def history(self, hours: float, points: int = 73) -> events.History:
        now = self.clock()
        return events.history(self.store, now - hours * 3600, now, points)

    def check_database(self) -> None:
        """Raises if the database cannot be reached."""
        self.store.ping()

    # ---- pools ---------------------------------------------------------

    def pool_statuses(self) -> list[PoolStatus]:
        counts = self.store.pool_counts()
        return [PoolStatus(p, dict(counts.get(p.name, {}))) for p in self.effective_pools()]

    @writes
    def set_pools(self, pools: tuple[Pool, ...]) -> None:
        self.pools = pools
        self.signals.wake_reconciler()
