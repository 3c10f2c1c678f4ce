"""MemoryStore: the Store in a process's memory, the SQL store's twin.

It is the same Protocol with the same guards, moves and changes (the
transition table and domain/changes.py, never restated here), and it passes
the same contract tests as SQLite and PostgreSQL (tests/contract/). The
service, the reconciler and the simulator run on it with no database: unit
tests are fast and honest, and a simulated day of tickets takes seconds.

Transactions are real: a write records how to undo itself, so an exception
inside `atomic()` (or a failed group) leaves nothing behind, and listeners
hear of events only once their transaction has committed. One lock stands
for SQLite's one writer.
"""

from __future__ import annotations

import itertools
import secrets
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from lessor.domain import changes, events
from lessor.domain.changes import Change
from lessor.domain.events import Event, EventFilter, spares_changed
from lessor.domain.jobs import job_granted, job_opened
from lessor.domain.kinds import EventKind as K
from lessor.domain.model import Claim, Pool, Resource, Ticket
from lessor.domain.naming import free_counter_values, resource_name, smallest_free
from lessor.domain.paging import Page
from lessor.domain.states import (
    ACTIVE_TICKET_STATES,
    CHECKABLE_STATES,
    HOLDABLE_STATES,
    LIVE_RESOURCE_STATES,
    RESOURCE_STATE_AFTER,
    ResourceMove,
    ResourceState,
    TicketMove,
    TicketState,
    Transition,
    state_after,
)
from lessor.domain.users import User
from lessor.store.interface import EventListener
from lessor.store.leadership import SoleLeadership
from lessor.store.notify import Woken
from lessor.store.pools import STATE as POOL_STATE

R = ResourceState
T = TicketState
M = ResourceMove

RECOVERED = "the server running its hook died or restarted"
_MISSING = object()
V = TypeVar("V")


class _Rows(dict[int, V]):
    """A table: its rows by id, and (an index) the ids of the rows `live` says are live,
    so that what every pass reads costs what is live, not all of history."""

    def __init__(self, live: Callable[[V], bool]) -> None:
        super().__init__()
        self._is_live = live
        self.live: set[int] = set()

    def __setitem__(self, key: int, value: V) -> None:
        super().__setitem__(key, value)
        if self._is_live(value):
            self.live.add(key)
        else:
            self.live.discard(key)

    def __delitem__(self, key: int) -> None:
        super().__delitem__(key)
        self.live.discard(key)

    def live_rows(self) -> list[V]:
        return [self[i] for i in sorted(self.live)]


class _Group:
    def __init__(self) -> None:
        self.first = True
        self.on_commit: list[Callable[[BaseException | None], None]] = []


class _Tx:
    """One transaction: how to undo its writes, and the events it recorded."""

    def __init__(self) -> None:
        self.undo: list[tuple[dict[Any, Any], Any, Any]] = []
        self.events: list[Event] = []


class MemoryTransactions:
    inline = True

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._lock = threading.RLock()
        self._local = threading.local()
        self.on_events: EventListener | None = None

    # -- what the store's calls use ------------------------------------------

    @contextmanager
    def write(self) -> Iterator[_Tx]:
        """The open transaction, or one of this call's own."""
        tx: _Tx | None = getattr(self._local, "tx", None)
        if tx is not None:
            yield tx
            return
        with self._transaction() as tx:
            yield tx

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._lock:
            yield

    # -- the unit of work -------------------------------------------------------

    @contextmanager
    def atomic(self) -> Iterator[None]:
        if getattr(self._local, "tx", None) is not None:
            yield
            return
        self.commit_group()
        with self._transaction():
            yield

    @contextmanager
    def part(self) -> Iterator[_Group]:
        group: _Group | None = getattr(self._local, "group", None)
        if group is None:
            self._lock.acquire()
            group = self._local.group = _Group()
            self._local.group_tx = _Tx()
        else:
            group.first = False
        tx: _Tx = self._local.group_tx
        mark, events = len(tx.undo), len(tx.events)
        self._local.tx = tx
        try:
            yield group
        except BaseException as e:
            del tx.events[events:]
            if len(tx.undo) != mark:
                self._end_group(e)
            raise
        finally:
            self._local.tx = None

    def commit_group(self) -> None:
        if getattr(self._local, "group", None) is not None:
            self._end_group(None)

    def _end_group(self, failed: BaseException | None) -> None:
        group: _Group = self._local.group
        tx: _Tx = self._local.group_tx
        self._local.group = self._local.group_tx = None
        try:
            committed = self._finish(tx, failed is None)
        finally:
            self._lock.release()
        for told in group.on_commit:
            told(failed)
        self._announce(committed)

    @contextmanager
    def _transaction(self) -> Iterator[_Tx]:
        with self._lock:
            tx = self._local.tx = _Tx()
            try:
                yield tx
            except BaseException:
                self._finish(tx, False)
                raise
            else:
                committed = self._finish(tx, True)
            finally:
                self._local.tx = None
        self._announce(committed)

    def _finish(self, tx: _Tx, commit: bool) -> list[Event]:
        if not commit:
            for table, key, old in reversed(tx.undo):
                if old is _MISSING:
                    del table[key]
                else:
                    table[key] = old
            return []
        return self._store._log(tx.events)

    def _announce(self, committed: list[Event]) -> None:
        if committed and self.on_events is not None:
            self.on_events(committed)

    def close(self) -> None:
        self.commit_group()


class MemoryStore:
    def __init__(self) -> None:
        self.tickets: _Rows[Ticket] = _Rows(lambda t: t.state in ACTIVE_TICKET_STATES)
        self.resources: _Rows[Resource] = _Rows(lambda r: r.state is not R.ENDED)
        self.events: list[Event] = []
        self.pool_rows: dict[str, Pool] = {}
        self.users: dict[str, User] = {}
        """Each pool as last saved, with its drain state (drained, drain_reason)."""
        self._ids: dict[str, Iterator[int]] = defaultdict(lambda: itertools.count(1))
        self._tx = MemoryTransactions(self)
        self._identity = uuid.uuid4().hex
        self.epoch: dict[str, int] = {}
        """The leadership epoch (a table of one row, so that a rollback undoes it)."""
        self._secret = secrets.token_bytes(32)

    @property
    def transactions(self) -> MemoryTransactions:
        return self._tx

    def close(self) -> None:
        self._tx.close()

    def ping(self) -> None:
        pass

    def database_id(self) -> str:
        return self._identity

    def leadership(self) -> SoleLeadership:
        return SoleLeadership()

    def listen(self, woken: Woken) -> None:
        return None  # one server: its own commits tell it

    def take_lead(self) -> int:
        with self._tx.write():
            self._put(self.epoch, "epoch", self.epoch.get("epoch", 0) + 1)
            return self.epoch["epoch"]

    def fenced(self, epoch: int) -> bool:
        with self._tx.read():
            return self.epoch.get("epoch") == epoch

    def secret(self) -> bytes:
        return self._secret

    # ---- the machinery: guarded writes that can be undone ---------------------

    def _put(self, table: dict[Any, Any], key: Any, value: Any) -> None:
        with self._tx.write() as tx:
            tx.undo.append((table, key, table.get(key, _MISSING)))
            table[key] = value

    def _record(self, event: Event) -> None:
        with self._tx.write() as tx:
            tx.events.append(event)

    def _log(self, pending: list[Event]) -> list[Event]:
        """Called as a transaction commits: its events get their ids and join the log."""
        committed = [e.evolve(id=next(self._ids["events"])) for e in pending]
        self.events += committed
        return committed

    def _move_resource(
        self,
        resource_id: int,
        move: Transition[ResourceState],
        change: Change,
        now: float,
        *,
        among: Collection[ResourceState] | None = None,
        message: str = "",
        details: Mapping[str, Any] | None = None,
        unheld_unclaimed: bool = False,
    ) -> Resource | None:
        sources = move.sources if among is None else move.sources & frozenset(among)
        assert among is None or sources == frozenset(among), f"{move.name}: not from {among}"
        with self._tx.write():
            r = self.resources.get(resource_id)
            if r is None or r.state not in sources:
                return None
            if unheld_unclaimed and (r.held or r.busy):
                return None
            moved = changes.applied(r, change, state=move.target)
            self._put(self.resources, resource_id, moved)
            event = Event(move.event, now, message=message, details=details or {})
            self._record(self._about_resource(event, moved))
        return moved

    def _move_ticket(
        self,
        ticket_id: int,
        move: Transition[TicketState],
        change: Change,
        now: float,
        *,
        message: str = "",
        lapsed: bool = False,
        event: bool = True,
    ) -> Ticket | None:
        with self._tx.write():
            t = self.tickets.get(ticket_id)
            if t is None or t.state not in move.sources:
                return None
            if lapsed and (t.expires_at is None or t.expires_at > now):
                return None
            moved = changes.applied(t, change, state=move.target)
            self._put(self.tickets, ticket_id, moved)
            if event:
                self._record(self._about_ticket(Event(move.event, now, message=message), moved))
        return moved

    def _update_resource(
        self,
        resource_id: int,
        states: Collection[ResourceState],
        change: Change,
        event: Event | None = None,
    ) -> Resource | None:
        with self._tx.write():
            r = self.resources.get(resource_id)
            if r is None or r.state not in states:
                return None
            updated = changes.applied(r, change)
            self._put(self.resources, resource_id, updated)
            if event is not None:
                self._record(self._about_resource(event, updated))
        return updated

    def _update_ticket(
        self, ticket_id: int, states: Collection[TicketState], change: Change
    ) -> bool:
        with self._tx.write():
            t = self.tickets.get(ticket_id)
            if t is None or t.state not in states:
                return False
            self._put(self.tickets, ticket_id, changes.applied(t, change))
        return True

    @staticmethod
    def _about_resource(event: Event, r: Resource) -> Event:
        ticket = event.ticket_id if event.ticket_id is not None else r.ticket_id
        return event.evolve(resource_id=r.id, pool=event.pool or r.pool, ticket_id=ticket)

    def _about_ticket(self, event: Event, t: Ticket) -> Event:
        rid = event.resource_id if event.resource_id is not None else t.resource_id
        pool = event.pool
        if pool is None and rid is not None and rid in self.resources:
            pool = self.resources[rid].pool
        return event.evolve(ticket_id=t.id, resource_id=rid, pool=pool)

    # ---- tickets ---------------------------------------------------------------

    def open_ticket(
        self,
        tags: list[str],
        sandbox: str | None,
        priority: int,
        now: float,
        ttl: float | None = None,
        key_hash: str | None = None,
        idempotency_key: str | None = None,
    ) -> Ticket:
        move = TicketMove.OPEN
        with self._tx.write():
            if idempotency_key is not None:
                opened = [t for t in self.tickets.values() if t.idempotency_key == idempotency_key]
                if opened:
                    return opened[0]
            ticket = Ticket(
                id=next(self._ids["tickets"]),
                tags=tuple(tags),
                state=move.target,
                sandbox=sandbox,
                priority=priority,
                created_at=now,
                ttl=ttl,
                expires_at=now + ttl if ttl is not None else None,
                key_hash=key_hash,
                idempotency_key=idempotency_key,
            )
            self._put(self.tickets, ticket.id, ticket)
            self._record(events.ticket_opened(ticket))
        return ticket

    def get_ticket(self, ticket_id: int) -> Ticket | None:
        with self._tx.read():
            return self.tickets.get(ticket_id)

    def list_tickets(
        self, states: Collection[TicketState] | None = None, page: Page | None = None
    ) -> list[Ticket]:
        with self._tx.read():
            found = [t for t in self.tickets.values() if states is None or t.state in states]
        return _paged(found, page)

    def open_tickets_before(self, ticket_id: int) -> int:
        with self._tx.read():
            return sum(
                1 for t in self.tickets.live_rows() if t.state is T.OPEN and t.id < ticket_id
            )

    def tickets_for_snapshot(self) -> list[Ticket]:
        with self._tx.read():
            active = self.tickets.live_rows()
            holding = {
                r.ticket_id
                for r in self.resources.live_rows()
                if r.state is R.TAKEN and r.ticket_id is not None
            }
            ended = [
                self.tickets[i]
                for i in holding
                if i in self.tickets and self.tickets[i].state not in ACTIVE_TICKET_STATES
            ]
        return active + ended

    def close_ticket(
        self, ticket_id: int, now: float, key_hash: str | None = None
    ) -> tuple[Ticket, Resource | None] | None:
        with self._tx.write():
            ticket = self.tickets.get(ticket_id)
            if key_hash is not None and (ticket is None or ticket.key_hash != key_hash):
                return None
            closed = self._move_ticket(ticket_id, TicketMove.CLOSE, changes.ticket_closed(now), now)
            if closed is None:
                return None
            held = self.resources.get(closed.resource_id) if closed.resource_id else None
        return closed, held

    def fail_ticket(self, ticket_id: int, message: str, now: float) -> bool:
        change = changes.ticket_ended(message, now)
        moved = self._move_ticket(ticket_id, TicketMove.FAIL, change, now, message=message)
        return moved is not None

    def expire_ticket(self, ticket_id: int, message: str, now: float) -> bool:
        change = changes.ticket_ended(message, now)
        moved = self._move_ticket(
            ticket_id, TicketMove.EXPIRE, change, now, message=message, lapsed=True
        )
        return moved is not None

    def extend_ticket(self, ticket_id: int, ttl: float, now: float) -> bool:
        change = changes.ticket_extended(ttl, now)
        return self._update_ticket(ticket_id, ACTIVE_TICKET_STATES, change)

    def cut_lease(self, ticket_id: int, expected: float, to: float, event: Event) -> bool:
        with self._tx.write():
            t = self.tickets.get(ticket_id)
            if t is None or t.state not in ACTIVE_TICKET_STATES or t.expires_at != expected:
                return False
            self._put(self.tickets, ticket_id, t.evolve(expires_at=to))
            self._record(event)
        return True

    def assign(self, ticket_id: int, resource_id: int, now: float) -> bool:
        with self._tx.write():
            t = self.tickets.get(ticket_id)
            r = self.resources.get(resource_id)
            if t is None or r is None or not TicketMove.ASSIGN.allows(t.state):
                return False
            return self._assign(t, r, now) is not None

    def assign_opened(
        self, ticket: Ticket, spare: Resource, now: float
    ) -> tuple[Ticket, Resource] | None:
        with self._tx.write():
            current = self.resources.get(spare.id)
            return self._assign(ticket, current, now) if current is not None else None

    def _assign(self, t: Ticket, r: Resource, now: float) -> tuple[Ticket, Resource] | None:
        if not ResourceMove.TAKE.allows(r.state) or r.held or r.busy:
            return None
        assigned = changes.applied(
            t, changes.ticket_assigned(r.id, now), state=TicketMove.ASSIGN.target
        )
        taken = changes.applied(
            r, changes.resource_taken(t.id, t.sandbox, now), state=ResourceMove.TAKE.target
        )
        self._put(self.tickets, t.id, assigned)
        self._put(self.resources, r.id, taken)
        self._record(events.ticket_assigned(t.id, t.created_at, r.id, r.pool, r.name, now))
        return assigned, taken

    # ---- jobs (domain/jobs.py) ---------------------------------------------------

    def open_job(
        self,
        parts: Mapping[str, list[str]],
        priority: int,
        now: float,
        ttl: float | None = None,
        key_hash: str | None = None,
    ) -> list[Ticket]:
        opened: list[Ticket] = []
        with self._tx.write():
            for name, tags in parts.items():
                ticket_id = next(self._ids["tickets"])
                ticket = Ticket(
                    id=ticket_id,
                    tags=tuple(tags),
                    state=TicketMove.OPEN.target,
                    priority=priority,
                    created_at=now,
                    ttl=ttl,
                    expires_at=now + ttl if ttl is not None else None,
                    key_hash=key_hash,
                    job_id=opened[0].id if opened else ticket_id,
                    part=name,
                )
                self._put(self.tickets, ticket.id, ticket)
                self._record(events.ticket_opened(ticket))
                opened.append(ticket)
            self._record(job_opened(opened[0].id, {t.part or "": t for t in opened}, now))
        return opened

    def job_parts(self, job_id: int) -> list[Ticket]:
        with self._tx.read():
            return sorted(
                (t for t in self.tickets.values() if t.job_id == job_id), key=lambda t: t.id
            )

    def grant_job(self, job_id: int, grants: Sequence[tuple[int, int]], now: float) -> bool:
        with self._tx.write():
            pairs = [(self.tickets.get(t), self.resources.get(r)) for t, r in grants]
            takeable = len({r for _, r in grants}) == len(grants) and all(
                t is not None
                and r is not None
                and TicketMove.ASSIGN.allows(t.state)
                and ResourceMove.TAKE.allows(r.state)
                and not (r.held or r.busy)
                for t, r in pairs
            )
            if not takeable:
                return False
            given: dict[str, int] = {}
            for t, r in pairs:
                assert t is not None and r is not None
                self._assign(t, r, now)
                given[str(t.id)] = r.id
            opened_at = min(t.created_at for t, _ in pairs if t is not None)
            self._record(job_granted(job_id, given, opened_at, now))
        return True

    # ---- users (domain/users.py) -------------------------------------------------

    def add_user(self, user: User) -> bool:
        with self._tx.write():
            taken = user.name in self.users or any(
                u.token_hash == user.token_hash for u in self.users.values()
            )
            if taken:
                return False
            self._put(self.users, user.name, user.evolve(revoked_at=None))
        return True

    def get_user(self, name: str) -> User | None:
        with self._tx.read():
            return self.users.get(name)

    def user_by_token(self, token_hash: str) -> User | None:
        with self._tx.read():
            return next((u for u in self.users.values() if u.token_hash == token_hash), None)

    def list_users(self) -> list[User]:
        with self._tx.read():
            return sorted(self.users.values(), key=lambda u: u.name)

    def revoke_user(self, name: str, now: float) -> bool:
        with self._tx.write():
            u = self.users.get(name)
            if u is None or not u.active:
                return False
            self._put(self.users, name, u.evolve(revoked_at=now))
        return True

    def rotate_token(self, name: str, token_hash: str) -> bool:
        with self._tx.write():
            u = self.users.get(name)
            if u is None or not u.active:
                return False
            self._put(self.users, name, u.evolve(token_hash=token_hash))
        return True

    def set_owner(self, ticket_ids: Collection[int], owner: str) -> None:
        with self._tx.write():
            for tid in ticket_ids:
                self._put(self.tickets, tid, self.tickets[tid].evolve(owner=owner))

    # ---- resources -------------------------------------------------------------

    def get_resource(self, resource_id: int) -> Resource | None:
        with self._tx.read():
            return self.resources.get(resource_id)

    def resource_by_name(self, name: str) -> Resource | None:
        with self._tx.read():
            named = [r for r in self.resources.values() if r.name == name]
        return max(named, key=lambda r: r.id) if named else None

    def list_resources(
        self,
        states: Collection[ResourceState] | None = None,
        pool: str | None = None,
        page: Page | None = None,
    ) -> list[Resource]:
        with self._tx.read():
            found = [
                r
                for r in self.resources.values()
                if (states is None or r.state in states) and (pool is None or r.pool == pool)
            ]
        return _paged(found, page)

    def live_resources(self) -> list[Resource]:
        with self._tx.read():
            return self.resources.live_rows()

    def spares(self, pools: Collection[str], sandbox: str | None, per_pool: int) -> list[Resource]:
        with self._tx.read():
            free = [
                r
                for r in self.resources.live_rows()
                if r.state is R.UP and not r.held and not r.busy
            ]
        found = []
        for pool in pools:
            own = [r for r in free if r.pool == pool and r.sandbox == sandbox] if sandbox else []
            own = own[:per_pool]
            unused = [r for r in free if r.pool == pool and r.sandbox is None]
            found += own + unused[: per_pool - len(own)]
        return found

    def pool_counts(self) -> Mapping[str, Mapping[ResourceState, int]]:
        counts: dict[str, dict[ResourceState, int]] = defaultdict(lambda: defaultdict(int))
        for r in self.live_resources():
            counts[r.pool][r.state] += 1
        return {pool: dict(by_state) for pool, by_state in counts.items()}

    def create_resource(
        self,
        pool: str,
        tags: list[str],
        name_pattern: str,
        now: float,
        counters: Sequence[str] = (),
        reserved_for: int | None = None,
        claim: Claim | None = None,
    ) -> Resource:
        move = M.CREATE
        with self._tx.write():
            live = self.resources.live_rows()
            id_in_pool = smallest_free({r.id_in_pool for r in live if r.pool == pool})
            held = free_counter_values((dict(r.counters) for r in live), counters)
            rid = next(self._ids["resources"])
            created = Resource(
                id=rid,
                pool=pool,
                name=resource_name(name_pattern, pool, rid, id_in_pool, now, held),
                state=move.target,
                tags=tuple(tags),
                id_in_pool=id_in_pool,
                created_at=now,
                state_since=now,
                counters=tuple(sorted(held.items())),
                reserved_for=reserved_for,
            )
            if claim is not None:
                created = changes.applied(created, changes.hook_claimed(claim))
            self._put(self.resources, rid, created)
            self._record(events.resource_created(created))
            saved = self.pool_rows.get(pool, Pool(pool))
            self._put(self.pool_rows, pool, saved.evolve(last_start=now))
        return created

    def mark_up(self, resource_id: int, data: bytes, now: float) -> bool:
        change = changes.resource_up(data, now)
        return self._move_resource(resource_id, M.MARK_UP, change, now) is not None

    def save_data(self, resource_id: int, data: bytes) -> None:
        if data:
            self._update_resource(resource_id, LIVE_RESOURCE_STATES, {"data": data})

    def set_valid_until(self, resource_id: int, at: float | None) -> None:
        self._update_resource(resource_id, LIVE_RESOURCE_STATES, {"valid_until": at})

    def request_delete(
        self, resource_id: int, among: Collection[ResourceState], message: str, now: float
    ) -> bool:
        change = changes.delete_requested(message, now)
        moved = self._move_resource(
            resource_id, M.REQUEST_DELETE, change, now, among=among, message=message
        )
        return moved is not None

    def start_delete(self, resource_id: int, now: float, claim: Claim | None = None) -> bool:
        change = changes.resource_deleting(now)
        if claim is not None:
            change = {**change, **changes.hook_claimed(claim)}
        return self._move_resource(resource_id, M.START_DELETE, change, now) is not None

    def mark_ended(self, resource_id: int, now: float) -> bool:
        change = changes.resource_ended(now)
        return self._move_resource(resource_id, M.END, change, now) is not None

    def delete_failed(self, resource_id: int, message: str, retry_at: float, now: float) -> bool:
        moved = self._move_resource(
            resource_id,
            M.DELETE_FAILED,
            changes.delete_failed(message, retry_at),
            now,
            message=message,
            details={"retry_at": retry_at},
        )
        return moved is not None

    def release(self, resource_id: int, sandbox: str | None, now: float) -> bool:
        change = changes.resource_releasing(sandbox, now)
        moved = self._move_resource(resource_id, M.RELEASE, change, now, message="ticket closed")
        return moved is not None

    def release_done(self, resource_id: int, now: float) -> bool:
        change = changes.resource_released(now)
        return self._move_resource(resource_id, M.RELEASED, change, now) is not None

    def reuse_at_once(self, resource: Resource, sandbox: str, now: float) -> Resource | None:
        with self._tx.write():
            if not self.release(resource.id, sandbox, now):
                return None
            self.release_done(resource.id, now)
            return self.resources[resource.id]

    def livecheck_passed(self, resource_id: int, now: float) -> bool:
        change = changes.livecheck_passed(now)
        return self._update_resource(resource_id, CHECKABLE_STATES, change) is not None

    def livecheck_failed(self, resource_id: int, attempts: int, message: str, now: float) -> bool:
        with self._tx.write():
            change = changes.livecheck_failed(message, now)
            counted = self._update_resource(resource_id, CHECKABLE_STATES, change)
            if counted is None:
                return False
            details = {"failures": counted.livecheck_failures, "attempts": attempts}
            failed = Event(K.RESOURCE_LIVECHECK_FAILED, now, message=message, details=details)
            self._record(self._about_resource(failed, counted))
        return True

    def hold_resource(self, resource_id: int, reason: str, now: float) -> bool:
        held = Event(K.RESOURCE_HELD, now, message=reason)
        change = {"hold_reason": reason}
        return self._update_resource(resource_id, HOLDABLE_STATES, change, held) is not None

    def unhold_resource(self, resource_id: int, now: float) -> bool:
        unheld = Event(K.RESOURCE_UNHELD, now)
        change = {"hold_reason": None}
        return self._update_resource(resource_id, HOLDABLE_STATES, change, unheld) is not None

    def claim_hook(self, resource_id: int, among: Collection[ResourceState], claim: Claim) -> bool:
        with self._tx.write():
            r = self.resources.get(resource_id)
            if r is None or r.busy or r.state not in among:
                return False
            self._put(self.resources, resource_id, changes.applied(r, changes.hook_claimed(claim)))
        return True

    def end_hook(self, resource_id: int, owner: str) -> bool:
        with self._tx.write():
            r = self.resources.get(resource_id)
            if r is None or r.hook_owner != owner:
                return False
            self._put(self.resources, resource_id, changes.applied(r, changes.HOOK_DONE))
        return True

    def renew_claims(self, owner: str, until: float) -> int:
        renewed = 0
        with self._tx.write():
            for r in self.live_resources():
                if r.busy and r.hook_owner == owner:
                    self._put(self.resources, r.id, r.evolve(hook_until=until))
                    renewed += 1
        return renewed

    def recover_claims(
        self, now: float, owner: str | None = None, resource_id: int | None = None
    ) -> list[int]:
        move = M.RECOVER
        recovered = []
        with self._tx.write():
            for r in self.live_resources():
                dead = (r.hook_until or 0.0) < now or r.hook_owner == owner or r.id == resource_id
                if not r.busy or not dead:
                    continue
                self._put(self.resources, r.id, changes.applied(r, changes.HOOK_DONE))
                if move.allows(r.state):
                    change = changes.delete_requested(RECOVERED, now)
                    self._move_resource(r.id, move, change, now, message=RECOVERED)
                    recovered.append(r.id)
        return recovered

    # ---- pools -----------------------------------------------------------------

    def save_pool_definitions(self, pools: Sequence[Pool], now: float) -> None:
        with self._tx.write():
            for p in pools:
                saved = self.pool_rows.get(p.name, Pool(p.name))
                state = {name: getattr(saved, name) for name in POOL_STATE}
                self._put(self.pool_rows, p.name, p.evolve(**state))

    def stored_pools(self) -> list[Pool]:
        with self._tx.read():
            return [self.pool_rows[name] for name in sorted(self.pool_rows)]

    def set_drained(self, pool: str, drained: bool, reason: str, now: float) -> bool:
        with self._tx.write():
            saved = self.pool_rows.get(pool, Pool(pool))
            why = reason if drained else ""
            self._put(self.pool_rows, pool, saved.evolve(drained=drained, drain_reason=why))
            if saved.drained == drained:
                return False
            kind = K.POOL_DRAINED if drained else K.POOL_UNDRAINED
            self._record(Event(kind, now, pool=pool, message=why))
        return True

    def start_failed(self, pool: str, message: str, now: float) -> None:
        with self._tx.write():
            saved = self.pool_rows.get(pool, Pool(pool))
            failures = saved.start_failures + 1
            failed = saved.evolve(start_failures=failures, last_failure=message, failed_at=now)
            self._put(self.pool_rows, pool, failed)

    def set_spares_target(
        self, pool: str, spares: int | None, reason: str, now: float, wait: float | None = None
    ) -> bool:
        with self._tx.write():
            saved = self.pool_rows.get(pool, Pool(pool))
            sized = saved.evolve(spares_target=spares, spares_reason=reason, spares_wait=wait)
            self._put(self.pool_rows, pool, sized)
            if saved.spares_target == spares:
                return False
            self._record(spares_changed(pool, saved.spares_target, spares, reason, now))
        return True

    def start_succeeded(self, pool: str) -> None:
        with self._tx.write():
            saved = self.pool_rows.get(pool)
            if saved is not None and saved.start_failures:
                self._put(self.pool_rows, pool, saved.evolve(start_failures=0))

    # ---- the event log -----------------------------------------------------------

    def record_events(self, batch: Sequence[Event]) -> None:
        with self._tx.write():
            for event in batch:
                self._record(event)

    def list_events(self, f: EventFilter) -> list[Event]:
        with self._tx.read():
            found = [e for e in self.events if f.matches(e)]
        if f.after_id is not None:
            return found[: f.limit]
        return found[-f.limit :] if f.limit else []

    def resource_states_at(self, at: float) -> dict[int, tuple[str, ResourceState]]:
        moving = {*RESOURCE_STATE_AFTER, K.RESOURCE_IMPORTED}
        with self._tx.read():
            candidates = {
                r.id
                for r in self.resources.values()
                if r.state is not R.ENDED or r.state_since >= at
            }
            last: dict[int, Event] = {}
            for e in self.events:
                if e.at < at and e.kind in moving and e.resource_id in candidates:
                    assert e.resource_id is not None
                    last[e.resource_id] = e
        states: dict[int, tuple[str, ResourceState]] = {}
        for rid, e in last.items():
            state = state_after(e.kind, e.details)
            if state is not None and state is not R.ENDED:
                states[rid] = (e.pool or "", state)
        return states

    def waiting_tickets_at(self, at: float) -> set[int]:
        with self._tx.read():
            touched = {e.ticket_id for e in self.events if e.at >= at and e.ticket_id is not None}
            return {
                t.id
                for t in self.tickets.values()
                if t.created_at < at
                and (t.assigned_at is None or t.assigned_at >= at)
                and (t.closed_at is None or t.closed_at >= at)
                and (t.state is T.OPEN or t.id in touched)
            }

    # ---- adoption ----------------------------------------------------------------

    def is_empty(self) -> bool:
        with self._tx.read():
            return not self.tickets and not self.resources

    def adopt(self, ticket_rows: Sequence[Ticket], resource_rows: Sequence[Resource]) -> None:
        with self._tx.write():
            for t in ticket_rows:
                self._put(self.tickets, t.id, t)
            for row in resource_rows:
                r = changes.applied(row, changes.HOOK_DONE)
                self._put(self.resources, r.id, r)
                if r.state is not R.ENDED:
                    self._record(events.resource_imported(r))
            for name, rows in (("tickets", ticket_rows), ("resources", resource_rows)):
                if rows:
                    top = max(x.id for x in rows)
                    self._ids[name] = itertools.count(top + 1)


_Row = TypeVar("_Row", Ticket, Resource)


def _paged(rows: list[_Row], page: Page | None) -> list[_Row]:
    """Rows in id order, or the page of them (the SQL store's keyset query)."""
    if page is None:
        return sorted(rows, key=lambda r: r.id)
    chosen = sorted((r for r in rows if page.holds(r.id)), key=lambda r: r.id)
    if page.newest_first:
        chosen.reverse()
    return chosen[: page.limit]
