"""The use cases: what the API, the CLI (through the API) and the reconciler may do.

Each one is a single store transaction plus the wake-ups it implies; none of
them runs a hook or waits on one.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from lessor.domain.events import Event, EventFilter
from lessor.domain.matching import pool_serves, unservable_tags
from lessor.domain.model import Pool, Resource, Snapshot, Ticket
from lessor.domain.states import LIVE_RESOURCE_STATES, ResourceState, TicketState
from lessor.planner.plan import assignments, no_pool_message, recycling
from lessor.service import events
from lessor.service.errors import Conflict, InvalidRequest, NoPoolForTags, NotFound
from lessor.service.metrics import Metrics
from lessor.service.policy import PolicyCases, check_ttl
from lessor.service.signals import SOON, UPKEEP, Signals
from lessor.store.interface import Store

R = ResourceState
P = ParamSpec("P")
V = TypeVar("V")


@dataclass(frozen=True)
class PoolStatus:
    pool: Pool
    counts: dict[ResourceState, int]


@dataclass(frozen=True)
class Holding:
    """A ticket and the resource it holds or held: what a use case on one ticket answers."""

    ticket: Ticket
    resource: Resource | None


class LessorService(PolicyCases):
    def __init__(
        self,
        store: Store,
        pools: tuple[Pool, ...],
        signals: Signals | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.pools = pools
        self.signals = signals or Signals()
        self.clock = clock
        self.busy: set[int] = set()
        """Resources with a hook in flight (the reconciler's); never handed out meanwhile."""
        self.metrics = Metrics()
        self.waiting_reasons: dict[int, str] = {}
        """Why each open ticket still waits, as the reconciler's last plan said."""
        store.on_events = self._events_committed

    async def run(self, use_case: Callable[P, V], *args: P.args, **kwargs: P.kwargs) -> V:
        """Call a use case from the event loop.

        On a store whose calls are short local file I/O (SQLite) it runs right
        here: a hop to a worker thread costs more than the call itself and
        halves the requests a server answers. Otherwise (PostgreSQL, a network
        away) it runs in a worker thread, so the loop never waits on a socket.
        """
        if self.store.inline:
            return use_case(*args, **kwargs)
        return await asyncio.to_thread(use_case, *args, **kwargs)

    async def run_grouped(self, use_case: Callable[P, V], *args: P.args, **kwargs: P.kwargs) -> V:
        """Call a use case that answers a request and writes (open, close a ticket).

        On SQLite the use cases of the requests answered in one turn of the
        event loop share one transaction (see Store.part): a commit costs as
        much as a use case, and a busy server commits once for several. The
        call returns once that transaction has committed, so no answer tells
        of a change that could still be lost; its signals (waiters, the
        reconciler) go out then too. Elsewhere it is `run`.
        """
        if not self.store.inline:
            return await self.run(use_case, *args, **kwargs)
        loop = asyncio.get_running_loop()
        with self.store.part() as part:
            if part.first:  # whatever this part's fate, the group is committed next turn
                loop.call_soon(self.store.commit_group)
            with self.signals.held() as held:
                result = use_case(*args, **kwargs)
        committed = loop.create_future()

        def told(error: BaseException | None) -> None:
            self.signals.release(held)
            if committed.done():  # the request went away meanwhile
                return
            if error is None:
                committed.set_result(None)
            else:
                committed.set_exception(error)

        part.on_commit.append(told)
        await committed
        return result

    def _events_committed(self, batch: list[Event]) -> None:
        self.metrics.observe(batch)
        self.signals.events_recorded()

    def pool(self, name: str) -> Pool | None:
        return next((p for p in self.pools if p.name == name), None)

    def data_is_secret(self, pool_name: str) -> bool:
        """Whether listings and the web UI must not show this pool's resource data."""
        pool = self.pool(pool_name)
        return pool is not None and pool.secret_data

    def snapshot(self, busy: frozenset[int]) -> Snapshot:
        return Snapshot(
            now=self.clock(),
            pools=self.effective_pools(),
            resources=tuple(self.store.live_resources()),
            tickets=tuple(self.store.tickets_for_snapshot()),
            busy=busy,
        )

    # ---- tickets -------------------------------------------------------

    def open_ticket(
        self,
        tags: list[str],
        sandbox: str | None = None,
        priority: int = 0,
        ttl: float | None = None,
    ) -> Holding:
        """`ttl`: a lease, closed unless extended within that many seconds (see extend_ticket)."""
        tags = [t.strip() for t in tags]
        if not tags or any(not t for t in tags):
            raise InvalidRequest("a ticket needs at least one non-empty tag")
        check_ttl(ttl)
        missing = unservable_tags(self.pools, tags)
        if missing:
            raise NoPoolForTags(no_pool_message(missing), missing)
        unique = list(dict.fromkeys(tags))
        with self.store.atomic():
            ticket = self.store.open_ticket(unique, sandbox, priority, self.clock(), ttl=ttl)
            held = self._assign_at_once(ticket)
        # taken at once: only the spares to top up; else the reconciler must find it one
        self.signals.wake_reconciler(UPKEEP if held.resource is not None else 0.0)
        return held

    def _assign_at_once(self, ticket: Ticket) -> Holding:
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
            return Holding(ticket, None)
        # The busy ones are skipped, so one more than those must be read to be sure of one.
        candidates = self.store.spares(serving, ticket.sandbox, len(self.busy) + 1)
        spares = tuple(r for r in candidates if r.id not in self.busy)
        if not spares:
            return Holding(ticket, None)
        now = self.clock()
        decided = assignments(Snapshot(now, pools, spares, (ticket,), frozenset(self.busy)))
        for action in decided:
            if action.ticket_id == ticket.id and self.store.assign_opened(
                ticket, action.resource_id, now
            ):
                # exactly what the guarded update wrote; no need to read it back
                ticket = ticket.evolve(
                    state=TicketState.ASSIGNED, resource_id=action.resource_id, assigned_at=now
                )
                spare = next(r for r in spares if r.id == action.resource_id)
                taken = spare.evolve(
                    state=R.TAKEN,
                    ticket_id=ticket.id,
                    sandbox=ticket.sandbox,
                    state_since=now,
                    reserved_for=None,
                )
                return Holding(ticket, taken)
        return Holding(ticket, None)

    def get_ticket(self, ticket_id: int) -> Ticket:
        ticket = self.store.get_ticket(ticket_id)
        if ticket is None:
            raise NotFound(f"ticket {ticket_id} does not exist")
        return ticket

    async def wait_ticket(self, ticket_id: int, timeout: float) -> Ticket:
        """The ticket as soon as it is no longer OPEN, or as it is after `timeout` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            change = self.signals.watch_ticket(ticket_id)
            try:
                ticket = await self.run(self.get_ticket, ticket_id)
                remaining = deadline - loop.time()
                if ticket.state is not TicketState.OPEN or remaining <= 0:
                    return ticket
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(change), remaining)
            finally:
                change.cancel()

    def close_ticket(self, ticket_id: int) -> Holding:
        """Close it, and give its resource back in the same transaction when no hook has to
        run for that: a resource reused without cmd_release is ready for the next ticket of
        its sandbox at once, with no reconciler pass in between."""
        with self.store.atomic():
            now = self.clock()
            closed = self.store.close_ticket(ticket_id, now)
            if closed is None:  # closed already (or no such ticket: NotFound)
                ticket = self.get_ticket(ticket_id)
                return Holding(ticket, self.resource_of(ticket))
            ticket, resource = closed
            resource = self._recycle_at_once(ticket, resource, now)
        self.signals.ticket_changed(ticket_id)
        reused = resource is not None and resource.state is R.UP
        # a resource up again at once matters now only to tickets that wait
        self.signals.wake_reconciler(UPKEEP if reused and not self.waiting_reasons else SOON)
        return Holding(ticket, resource)

    def _recycle_at_once(
        self, ticket: Ticket, resource: Resource | None, now: float
    ) -> Resource | None:
        """The planner's decision for the freed resource (reuse or delete), applied now.

        The planner sees only this ticket and its resource, so the rules of
        reuse stay in one place; whatever needs a hook (cmd_release,
        cmd_delete) is left to the reconciler, which the close wakes.
        """
        if resource is None or resource.state is not R.TAKEN or resource.id in self.busy:
            return resource
        pools = self.recent_pools()
        snapshot = Snapshot(now, pools, (resource,), (ticket,), frozenset(self.busy))
        recycle = next(iter(recycling(snapshot)), None)
        if recycle is None:
            return resource
        pool = next((p for p in pools if p.name == resource.pool), None)
        if (
            recycle.reuse
            and ticket.sandbox is not None
            and pool is not None
            and not pool.cmd_release
        ):
            return self.store.reuse_at_once(resource, ticket.id, ticket.sandbox, now) or resource
        if not self.store.recycle(resource.id, recycle.reuse, ticket.sandbox, now):
            return resource
        return self.store.get_resource(resource.id)

    def list_tickets(self, states: list[TicketState] | None = None) -> list[Ticket]:
        return self.store.list_tickets(states)

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
        self, states: list[ResourceState] | None = None, pool: str | None = None
    ) -> list[Resource]:
        return self.store.list_resources(states, pool)

    def delete_resource(self, resource_id: int) -> Resource:
        """Ask for deletion; cmd_delete runs as soon as no other hook runs on it."""
        resource = self.get_resource(resource_id)
        allowed = LIVE_RESOURCE_STATES - {R.DELETING, R.DELETE_REQUESTED}
        if resource.state in (R.DELETING, R.DELETE_REQUESTED, R.ENDED):
            return resource
        if resource.held:
            raise Conflict(
                f"resource {resource_id} is on hold ({resource.hold_reason}); unhold it first"
            )
        if not self.store.request_delete(resource_id, allowed, "deleted by an admin", self.clock()):
            raise Conflict(f"resource {resource_id} changed state; try again")
        if resource.ticket_id is not None:
            self.signals.ticket_changed(resource.ticket_id)
        self.signals.wake_reconciler()
        return self.get_resource(resource_id)

    # ---- events --------------------------------------------------------

    def list_events(self, f: EventFilter) -> list[Event]:
        return self.store.list_events(f)

    def follow_events(self, f: EventFilter, heartbeat: float = 15.0) -> AsyncIterator[list[Event]]:
        """Batches of new matching events as they are committed (see events.follow)."""
        return events.follow(self.store, self.signals, f, heartbeat)

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

    def set_pools(self, pools: tuple[Pool, ...]) -> None:
        self.pools = pools
        self.signals.wake_reconciler()
