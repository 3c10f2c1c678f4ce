"""SqlStore: the Store on SQLite or PostgreSQL, every transition a guarded UPDATE."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from lessor.domain.events import Event, EventFilter
from lessor.domain.events import EventKind as K
from lessor.domain.model import Pool, Resource, Ticket
from lessor.domain.states import (
    ACTIVE_TICKET_STATES,
    LIVE_RESOURCE_STATES,
    ResourceState,
    TicketState,
)
from lessor.store import eventlog, migrate
from lessor.store import statements as st
from lessor.store.engine import make_engine
from lessor.store.pooldefs import pool_definition, pool_from_definition
from lessor.store.tables import pool_states, resources, tickets
from lessor.store.transactions import EventListener, Transactions

R = ResourceState
T = TicketState


class SqlStore:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.inline = engine.dialect.name == "sqlite"
        """SQLite calls take microseconds and touch only a local file; see LessorService.run."""
        self._tx = Transactions(engine)
        self.atomic = self._tx.atomic
        self.part = self._tx.part
        self.commit_group = self._tx.commit_group
        self._read = self._tx.read
        self._write = self._tx.write

    @property
    def on_events(self) -> EventListener | None:
        """Called with the events of each write transaction once it has committed."""
        return self._tx.on_events

    @on_events.setter
    def on_events(self, listener: EventListener | None) -> None:
        self._tx.on_events = listener

    @classmethod
    def connect(cls, url: str, *, migrate_schema: bool = True) -> SqlStore:
        engine = make_engine(url)
        if migrate_schema:
            migrate.upgrade(engine)
        return cls(engine)

    def close(self) -> None:
        self._tx.close()

    def ping(self) -> None:
        with self._read() as conn:
            conn.execute(sa.text("SELECT 1"))

    # ---- tickets -------------------------------------------------------

    def open_ticket(
        self,
        tags: list[str],
        sandbox: str | None,
        priority: int,
        now: float,
        ttl: float | None = None,
    ) -> Ticket:
        expires_at = now + ttl if ttl is not None else None
        values = {
            "tags": list(tags),
            "sandbox": sandbox,
            "state": T.OPEN,
            "priority": priority,
            "created_at": now,
            "ttl": ttl,
            "expires_at": expires_at,
        }
        with self._write() as conn:
            (row,) = st.INSERT_TICKET.execute(conn, values)
            details = {"tags": list(tags), "sandbox": sandbox, "priority": priority}
            eventlog.record(conn, Event(K.TICKET_OPENED, now, ticket_id=row.id, details=details))
        # exactly what was written (the other columns keep their defaults, as in Ticket)
        return Ticket(
            id=row.id,
            tags=tuple(tags),
            state=T.OPEN,
            sandbox=sandbox,
            priority=priority,
            created_at=now,
            ttl=ttl,
            expires_at=expires_at,
        )

    def get_ticket(self, ticket_id: int) -> Ticket | None:
        with self._read() as conn:
            rows = st.TICKET.execute(conn, {"id": ticket_id})
        return _ticket(rows[0]) if rows else None

    def list_tickets(self, states: Collection[TicketState] | None = None) -> list[Ticket]:
        q = tickets.select()
        if states is not None:
            q = q.where(tickets.c.state.in_(list(states)))
            if set(states) <= ACTIVE_TICKET_STATES:
                q = q.where(st.ACTIVE)  # the index of active rows, not all of history
        with self._read() as conn:
            rows = conn.execute(q).all()
        return sorted((_ticket(r) for r in rows), key=lambda t: t.id)  # see list_resources

    def open_tickets_before(self, ticket_id: int) -> int:
        """How many tickets opened earlier still wait (the fast path steps aside for them)."""
        with self._read() as conn:
            return int(st.OPEN_BEFORE.execute(conn, {"id": ticket_id})[0][0])

    def tickets_for_snapshot(self) -> list[Ticket]:
        """Active tickets, plus ended ones still holding a resource (to recycle it)."""
        with self._read() as conn:
            rows = st.ACTIVE_TICKETS.execute(conn) + st.ENDED_HOLDING.execute(conn)
        return [_ticket(r) for r in rows]

    def close_ticket(self, ticket_id: int, now: float) -> tuple[Ticket, Resource | None] | None:
        """Close an open, assigned or failed ticket: the ticket as closed and the resource
        it held (or holds: recycling it is the caller's next step); None if it was not."""
        with self._write() as conn:
            closed = st.CLOSE_TICKET.execute(conn, {"b_id": ticket_id, "b_now": now})
            if not closed:
                return None
            ticket = _ticket(closed[0])
            rows = (
                st.RESOURCE.execute(conn, {"id": ticket.resource_id}) if ticket.resource_id else []
            )
            resource = _resource(rows[0]) if rows else None
            event = Event(
                K.TICKET_CLOSED,
                now,
                ticket_id=ticket_id,
                resource_id=ticket.resource_id,
                pool=resource.pool if resource is not None else None,
            )
            eventlog.record(conn, event)
        return ticket, resource

    def fail_ticket(self, ticket_id: int, message: str, now: float) -> bool:
        return self._guarded(
            tickets,
            ticket_id,
            [T.OPEN],
            event=Event(K.TICKET_FAILED, now, message=message),
            state=T.FAILED,
            message=message,
            closed_at=now,
        )

    def assign(self, ticket_id: int, resource_id: int, now: float) -> bool:
        """Both rows move together or neither does."""
        try:
            return self._assign(ticket_id, resource_id, now)
        except _Conflict:
            return False

    def _assign(self, ticket_id: int, resource_id: int, now: float) -> bool:
        with self._write(savepoint=True) as conn:
            ids = {"ticket": ticket_id, "resource": resource_id, "now": now}
            updated = st.ASSIGN_TICKET.execute(conn, ids)
            if not updated:
                return False
            ticket = updated[0]
            taken = st.TAKE_RESOURCE.execute(conn, {**ids, "b_sandbox": ticket.sandbox})
            if not taken:
                raise _Conflict  # rolls the ticket's update back with the transaction
            eventlog.record(conn, _assigned(ticket_id, ticket.created_at, taken[0], now))
        return True

    def assign_opened(self, ticket: Ticket, resource_id: int, now: float) -> bool:
        """`assign` for a ticket opened in the very transaction this runs in (atomic()).

        No one else can see that ticket yet, so its update cannot fail: the
        resource is taken first, and when someone took it before, nothing is
        written and nothing needs undoing (no savepoint, the fast path's
        price otherwise).
        """
        with self._write() as conn:
            ids = {"ticket": ticket.id, "resource": resource_id, "now": now}
            taken = st.TAKE_RESOURCE.execute(conn, {**ids, "b_sandbox": ticket.sandbox})
            if not taken:
                return False
            if not st.ASSIGN_TICKET.execute(conn, ids):
                raise RuntimeError(f"ticket {ticket.id} moved in the transaction that opened it")
            eventlog.record(conn, _assigned(ticket.id, ticket.created_at, taken[0], now))
        return True

    # ---- resources -----------------------------------------------------

    def get_resource(self, resource_id: int) -> Resource | None:
        with self._read() as conn:
            rows = st.RESOURCE.execute(conn, {"id": resource_id})
        return _resource(rows[0]) if rows else None

    def list_resources(
        self, states: Collection[ResourceState] | None = None, pool: str | None = None
    ) -> list[Resource]:
        q = resources.select()
        if states is not None:
            q = q.where(resources.c.state.in_(list(states)))
            if R.ENDED not in states:
                q = q.where(st.LIVE)  # the index of live rows, not all of history
        if pool is not None:
            q = q.where(resources.c.pool == pool)
        with self._read() as conn:
            rows = conn.execute(q).all()
        # Sorted here: ORDER BY id would have SQLite walk the whole table in id order.
        return sorted((_resource(r) for r in rows), key=lambda r: r.id)

    def resource_by_name(self, name: str) -> Resource | None:
        """The newest resource of that name (names repeat only with odd name_patterns)."""
        q = resources.select().where(resources.c.name == name).order_by(resources.c.id.desc())
        with self._read() as conn:
            row = conn.execute(q.limit(1)).one_or_none()
        return _resource(row) if row else None

    def live_resources(self) -> list[Resource]:
        with self._read() as conn:
            rows = st.LIVE_RESOURCES.execute(conn)
        return sorted((_resource(r) for r in rows), key=lambda r: r.id)  # see list_resources

    def spares(self, pools: Collection[str], sandbox: str | None, per_pool: int) -> list[Resource]:
        """What a new ticket of `sandbox` may get at once: per pool, at most `per_pool` of the
        UP resources it may take, those of its own sandbox first, then the lowest ids.

        That is the planner's order among the resources of one pool (see
        planner/assign.py), so its choice is among these, and opening a
        ticket reads a few rows however many spares there are.
        """
        rows = []
        with self._read() as conn:
            for pool in pools:
                own = []
                if sandbox is not None:
                    params = {"pool": pool, "sandbox": sandbox, "n": per_pool}
                    own = st.SPARES_OF_SANDBOX.execute(conn, params)
                rows += own
                if len(own) < per_pool:
                    params = {"pool": pool, "n": per_pool - len(own)}
                    rows += st.SPARES_UNUSED.execute(conn, params)
        return [_resource(r) for r in rows]

    def create_resource(
        self,
        pool: str,
        tags: list[str],
        name_pattern: str,
        now: float,
        counters: Sequence[str] = (),
        reserved_for: int | None = None,
    ) -> Resource:
        """A STARTING resource with the smallest free id in its pool and counter values.

        Named counters are shared by every pool that names them, as resalloc's
        database has it (one value of a counter is held by one live resource).
        """
        with self._write() as conn:
            if conn.dialect.name == "postgresql":
                # Servers sharing the database pick free numbers one at a time.
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CREATE_LOCK})
            held = _free_counter_values(conn, counters)
            used = set(
                conn.execute(
                    sa.select(resources.c.id_in_pool).where(resources.c.pool == pool, st.LIVE)
                ).scalars()
            )
            id_in_pool = next(i for i in range(len(used) + 1) if i not in used)
            row = conn.execute(
                resources.insert()
                .values(
                    pool=pool,
                    name="",
                    state=R.STARTING,
                    tags=list(tags),
                    id_in_pool=id_in_pool,
                    created_at=now,
                    state_since=now,
                    counters=held,
                    reserved_for=reserved_for,
                )
                .returning(resources.c.id)
            ).one()
            name = _format_name(name_pattern, pool, row.id, id_in_pool, now, held)
            conn.execute(resources.update().where(resources.c.id == row.id).values(name=name))
            created = conn.execute(resources.select().where(resources.c.id == row.id)).one()
            eventlog.record(
                conn,
                Event(
                    K.RESOURCE_CREATED, now, resource_id=row.id, pool=pool, details={"name": name}
                ),
            )
        return _resource(created)

    def mark_up(self, resource_id: int, data: bytes, now: float) -> bool:
        return self._guarded(
            resources,
            resource_id,
            [R.STARTING],
            event=Event(K.RESOURCE_UP, now),
            state=R.UP,
            data=data,
            state_since=now,
        )

    def save_data(self, resource_id: int, data: bytes) -> None:
        """Keep what cmd_new printed even when the resource is no longer STARTING."""
        if data:
            with self._write() as conn:
                conn.execute(
                    resources.update().where(resources.c.id == resource_id).values(data=data)
                )

    def request_delete(
        self,
        resource_id: int,
        expected: Collection[ResourceState],
        message: str,
        now: float,
    ) -> bool:
        return self._guarded(
            resources,
            resource_id,
            list(expected),
            event=Event(K.RESOURCE_DELETE_REQUESTED, now, message=message),
            state=R.DELETE_REQUESTED,
            message=message,
            state_since=now,
            next_attempt_at=now,
        )

    def start_delete(self, resource_id: int, now: float) -> bool:
        return self._guarded(
            resources,
            resource_id,
            [R.DELETE_REQUESTED],
            event=Event(K.RESOURCE_DELETING, now),
            state=R.DELETING,
            state_since=now,
        )

    def mark_ended(self, resource_id: int, now: float) -> bool:
        return self._guarded(
            resources,
            resource_id,
            [R.DELETING],
            event=Event(K.RESOURCE_ENDED, now),
            state=R.ENDED,
            state_since=now,
        )

    def delete_failed(self, resource_id: int, message: str, retry_at: float, now: float) -> bool:
        return self._guarded(
            resources,
            resource_id,
            [R.DELETING],
            event=Event(
                K.RESOURCE_DELETE_FAILED, now, message=message, details={"retry_at": retry_at}
            ),
            state=R.DELETE_REQUESTED,
            message=message,
            next_attempt_at=retry_at,
            delete_attempts=st.INCREMENT,
        )

    def recycle(self, resource_id: int, reuse: bool, sandbox: str | None, now: float) -> bool:
        if reuse:
            return self._guarded(
                resources,
                resource_id,
                [R.TAKEN],
                event=Event(K.RESOURCE_RELEASING, now, message="ticket closed"),
                state=R.RELEASING,
                sandbox=sandbox,
                state_since=now,
            )
        return self.request_delete(resource_id, [R.TAKEN], "ticket closed", now)

    def reuse_at_once(
        self, resource: Resource, ticket_id: int, sandbox: str, now: float
    ) -> Resource | None:
        """TAKEN by `ticket_id` to UP for `sandbox` in one step, when no cmd_release has to
        run in between: both transitions are recorded (releasing, released) as if it had.
        The resource as it now is (`resource` as read in this transaction, moved), or None
        when it was not TAKEN."""
        params = {"b_id": resource.id, "b_sandbox": sandbox, "b_now": now}
        with self._write() as conn:
            rows = st.REUSE_AT_ONCE.execute(conn, params)
            if not rows:
                return None
            released = Event(
                K.RESOURCE_RELEASING,
                now,
                ticket_id=ticket_id,
                resource_id=resource.id,
                pool=resource.pool,
                message="ticket closed",
            )
            eventlog.record(conn, released)
            eventlog.record(
                conn, Event(K.RESOURCE_RELEASED, now, resource_id=resource.id, pool=resource.pool)
            )
        # exactly what the guarded update wrote; no need to read the whole row back
        return resource.evolve(
            state=R.UP, ticket_id=None, sandbox=sandbox, releases=rows[0].releases, state_since=now
        )

    def release_done(self, resource_id: int, now: float) -> bool:
        return self._guarded(
            resources,
            resource_id,
            [R.RELEASING],
            event=Event(K.RESOURCE_RELEASED, now),
            state=R.UP,
            ticket_id=None,
            releases=st.INCREMENT,
            state_since=now,
        )

    def livecheck_passed(self, resource_id: int, now: float) -> bool:
        return self._guarded(
            resources, resource_id, [R.UP, R.TAKEN], last_livecheck=now, livecheck_failures=0
        )

    def livecheck_failed(
        self, resource_id: int, attempts: int, message: str, now: float
    ) -> ResourceState | None:
        """Count a failure; the one that reaches `attempts` requests deletion of a spare.

        An assigned resource stays with its ticket (the planner reports it
        there), and a held one stays as it is: that is what the hold is for.
        """
        with self._write() as conn:
            row = conn.execute(
                resources.update()
                .where(resources.c.id == resource_id, resources.c.state.in_([R.UP, R.TAKEN]))
                .values(
                    last_livecheck=now,
                    livecheck_failures=resources.c.livecheck_failures + 1,
                    message=message,
                )
                .returning(
                    resources.c.livecheck_failures,
                    resources.c.pool,
                    resources.c.state,
                    resources.c.hold_reason,
                )
            ).one_or_none()
            if row is None:
                return None
            failed = Event(
                K.RESOURCE_LIVECHECK_FAILED,
                now,
                resource_id=resource_id,
                pool=row.pool,
                message=message,
                details={"failures": row.livecheck_failures, "attempts": attempts},
            )
            eventlog.record(conn, failed)
            spare = row.state == R.UP and row.hold_reason is None
            if row.livecheck_failures < attempts or not spare:
                return ResourceState(row.state)
            conn.execute(
                resources.update()
                .where(resources.c.id == resource_id, resources.c.state == R.UP)
                .values(state=R.DELETE_REQUESTED, state_since=now, next_attempt_at=now)
            )
            why = f"{row.livecheck_failures} livechecks failed in a row: {message}"
            eventlog.record(conn, failed.evolve(kind=K.RESOURCE_DELETE_REQUESTED, message=why))
        return R.DELETE_REQUESTED

    def recover_after_crash(self, now: float) -> list[int]:
        """Hooks cut off by a crash: half-made resources and half-done deletes get deleted.

        cmd_delete must be idempotent (as in resalloc), so running it again on a
        resource whose deletion was interrupted is safe, and a resource whose
        cmd_new was interrupted may exist in the cloud: only cmd_delete can tell.
        """
        with self._write() as conn:
            ids = list(
                conn.execute(
                    resources.update()
                    .where(resources.c.state.in_([R.STARTING, R.DELETING]))
                    .values(
                        state=R.DELETE_REQUESTED,
                        state_since=now,
                        next_attempt_at=now,
                        message="server restarted while a hook ran",
                    )
                    .returning(resources.c.id, resources.c.pool)
                ).all()
            )
            for rid, pool in ids:
                event = Event(
                    K.RESOURCE_DELETE_REQUESTED,
                    now,
                    resource_id=rid,
                    pool=pool,
                    message="server restarted while a hook ran",
                )
                eventlog.record(conn, event)
        return [rid for rid, _ in ids]

    def pool_counts(self) -> Mapping[str, Mapping[ResourceState, int]]:
        q = (
            sa.select(resources.c.pool, resources.c.state, sa.func.count())
            .where(st.LIVE)
            .group_by(resources.c.pool, resources.c.state)
        )
        counts: dict[str, dict[ResourceState, int]] = defaultdict(dict)
        with self._read() as conn:
            for pool, state, n in conn.execute(q):
                counts[pool][ResourceState(state)] = n
        return counts

    # ---- policy: leases, holds, drains ----------------------------------

    def extend_ticket(self, ticket_id: int, ttl: float, now: float) -> bool:
        """Renew an active ticket's lease: it now ends `ttl` seconds from `now`."""
        return self._guarded(
            tickets, ticket_id, [T.OPEN, T.ASSIGNED], ttl=ttl, expires_at=now + ttl
        )

    def expire_ticket(self, ticket_id: int, message: str, now: float) -> bool:
        """Close an active ticket whose lease ran out; a renewal that came first wins."""
        with self._write() as conn:
            row = conn.execute(
                tickets.update()
                .where(
                    tickets.c.id == ticket_id,
                    tickets.c.state.in_([T.OPEN, T.ASSIGNED]),
                    tickets.c.expires_at <= now,
                )
                .values(state=T.CLOSED, closed_at=now, message=message)
                .returning(tickets.c.resource_id)
            ).one_or_none()
            if row is None:
                return False
            expired = Event(K.TICKET_EXPIRED, now, ticket_id=ticket_id, resource_id=row.resource_id)
            eventlog.record(conn, expired.evolve(message=message))
        return True

    def set_ticket_message(self, ticket_id: int, message: str) -> bool:
        """What an assigned ticket's owner should know (its resource stopped answering)."""
        return self._guarded(tickets, ticket_id, [T.ASSIGNED], message=message)

    def hold_resource(self, resource_id: int, reason: str, now: float) -> bool:
        return self._guarded(
            resources,
            resource_id,
            list(_HOLDABLE),
            event=Event(K.RESOURCE_HELD, now, message=reason),
            hold_reason=reason,
        )

    def unhold_resource(self, resource_id: int, now: float) -> bool:
        return self._guarded(
            resources,
            resource_id,
            list(_HOLDABLE),
            event=Event(K.RESOURCE_UNHELD, now),
            hold_reason=None,
        )

    def save_pool_definitions(self, pools: Sequence[Pool], now: float) -> None:
        """Remember each configured pool as loaded; its drain state is left as it is."""
        with self._write() as conn:
            for p in pools:
                definition = pool_definition(p)
                _upsert(conn, {"name": p.name, "definition": definition, "updated_at": now})

    def stored_pools(self) -> list[Pool]:
        """Every pool ever saved, as last loaded, with its drain state."""
        with self._read() as conn:
            rows = st.POOL_STATES.execute(conn)
        pools = []
        for row in rows:
            pool = pool_from_definition(row.name, row.definition or {})
            pools.append(pool.evolve(drained=bool(row.drained), drain_reason=row.drain_reason))
        return pools

    def set_drained(self, pool: str, drained: bool, reason: str, now: float) -> bool:
        """Drain or undrain a pool; False when it already was."""
        with self._write() as conn:
            was = conn.execute(
                sa.select(pool_states.c.drained).where(pool_states.c.name == pool)
            ).scalar_one_or_none()
            why = reason if drained else ""
            state = {"drained": drained, "drain_reason": why}
            _upsert(conn, {"name": pool, "updated_at": now, **state})
            if bool(was) == drained:
                return False
            kind = K.POOL_DRAINED if drained else K.POOL_UNDRAINED
            eventlog.record(conn, Event(kind, now, pool=pool, message=why))
        return True

    # ---- taking over another system's rows (import-resalloc) ----------

    def is_empty(self) -> bool:
        with self._read() as conn:
            for table in (tickets, resources):
                if conn.execute(sa.select(table.c.id).limit(1)).first() is not None:
                    return False
        return True

    def adopt(self, ticket_rows: Sequence[Ticket], resource_rows: Sequence[Resource]) -> None:
        """Insert tickets and resources with the ids they already have, in one transaction.

        Clients hold ticket ids and hooks' logs are named by resource id, so
        both are kept; new rows then count on from the highest id adopted.
        """
        with self._write() as conn:
            if ticket_rows:
                conn.execute(tickets.insert(), [_ticket_values(t) for t in ticket_rows])
            if resource_rows:
                conn.execute(resources.insert(), [_resource_values(r) for r in resource_rows])
                for r in resource_rows:
                    if r.state is not R.ENDED:  # the UI's history counts it from then on
                        eventlog.record(conn, eventlog.imported(r))
            if conn.dialect.name == "postgresql":
                for table in ("tickets", "resources"):
                    conn.execute(
                        sa.text(
                            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                            f"(SELECT MAX(id) FROM {table})) WHERE EXISTS (SELECT 1 FROM {table})"
                        )
                    )

    # ---- the event log -------------------------------------------------

    def record_events(self, batch: Sequence[Event]) -> None:
        """Events that are not transitions (hook runs); transitions record their own."""
        if batch:
            with self._write() as conn:
                eventlog.record_all(conn, batch)

    def list_events(self, f: EventFilter) -> list[Event]:
        with self._read() as conn:
            return eventlog.select(conn, f)

    def resource_states_at(self, at: float) -> dict[int, tuple[str, ResourceState]]:
        with self._read() as conn:
            return eventlog.resource_states_at(conn, at)

    def waiting_tickets_at(self, at: float) -> set[int]:
        with self._read() as conn:
            return eventlog.waiting_tickets_at(conn, at)

    # ---- helpers -------------------------------------------------------

    def _guarded(
        self,
        table: sa.Table,
        row_id: int,
        expected: list[Any],
        *,
        event: Event | None = None,
        **values: Any,
    ) -> bool:
        """Move the row if it is in an expected state; `event` is recorded if it moved."""
        update = st.guarded_update(table, expected, event is not None, values)
        params = {st.BOUND + k: v for k, v in values.items() if v is not st.INCREMENT}
        params[st.BOUND + "id"] = row_id
        with self._write() as conn:
            rows = update.execute(conn, params)
            if not rows:
                return False
            if event is not None:
                eventlog.record(conn, eventlog.about(conn, event, rows[0], table))
        return True


_HOLDABLE = frozenset(LIVE_RESOURCE_STATES - {R.DELETING})
"""A hook that is already deleting a resource cannot be held back."""


def _upsert(conn: sa.Connection, values: dict[str, Any]) -> None:
    """Insert or update a row of pool_states by name, atomically on both databases."""
    insert = sqlite_insert if conn.dialect.name == "sqlite" else postgresql_insert
    stmt = insert(pool_states).values(**values)
    update = {k: v for k, v in values.items() if k != "name"}
    conn.execute(stmt.on_conflict_do_update(index_elements=["name"], set_=update))


class _Conflict(Exception):
    """Another transaction moved a row first."""


_CREATE_LOCK = 0x1E5502
"""PostgreSQL advisory lock key held while a resource's numbers are chosen."""


def _free_counter_values(conn: sa.Connection, names: Sequence[str]) -> dict[str, int]:
    """The smallest value of each named counter that no live resource holds."""
    if not names:
        return {}
    taken: dict[str, set[int]] = defaultdict(set)
    q = sa.select(resources.c.counters).where(st.LIVE)
    for held in conn.execute(q).scalars():
        for name, value in (held or {}).items():
            taken[name].add(int(value))
    return {
        name: next(v for v in range(len(taken[name]) + 1) if v not in taken[name])
        for name in dict.fromkeys(names)
    }


class _ResallocId(int):
    """A resource id that formats as resalloc's: `{id}` is zero-padded to 8 digits.

    resalloc fills its name_pattern with the id as an 8-digit string, so
    existing patterns such as `copr_{id}` keep giving the same names here,
    while `{id:08d}` or `{id:d}` still work as Python formats.
    """

    def __format__(self, spec: str) -> str:
        return str(int(self)).zfill(8) if not spec else format(int(self), spec)


def _format_name(
    pattern: str,
    pool: str,
    rid: int,
    id_in_pool: int,
    now: float,
    counters: Mapping[str, int] | None = None,
) -> str:
    # Local time, as resalloc stamps its names.
    stamp = datetime.fromtimestamp(now).strftime("%Y%m%d_%H%M%S")
    values: dict[str, object] = dict(counters or {})
    values.update(pool_name=pool, id=_ResallocId(rid), datetime=stamp, id_in_pool=id_in_pool)
    try:
        return pattern.format(**values)
    except (KeyError, IndexError, ValueError, AttributeError):
        return f"{pool}_{rid:08d}_{stamp}"


def _ticket_values(t: Ticket) -> dict[str, Any]:
    return {
        "id": t.id,
        "tags": list(t.tags),
        "sandbox": t.sandbox,
        "state": t.state,
        "resource_id": t.resource_id,
        "priority": t.priority,
        "created_at": t.created_at,
        "assigned_at": t.assigned_at,
        "closed_at": t.closed_at,
        "message": t.message,
        "ttl": t.ttl,
        "expires_at": t.expires_at,
    }


def _resource_values(r: Resource) -> dict[str, Any]:
    return {
        "id": r.id,
        "pool": r.pool,
        "name": r.name,
        "state": r.state,
        "tags": list(r.tags),
        "data": r.data,
        "ticket_id": r.ticket_id,
        "sandbox": r.sandbox,
        "id_in_pool": r.id_in_pool,
        "releases": r.releases,
        "created_at": r.created_at,
        "state_since": r.state_since,
        "last_livecheck": r.last_livecheck,
        "livecheck_failures": r.livecheck_failures,
        "delete_attempts": r.delete_attempts,
        "next_attempt_at": r.next_attempt_at,
        "message": r.message,
        "counters": dict(r.counters),
        "hold_reason": r.hold_reason,
        "reserved_for": r.reserved_for,
    }


def _assigned(ticket_id: int, opened_at: float, taken: Any, now: float) -> Event:
    return Event(
        K.TICKET_ASSIGNED,
        now,
        ticket_id=ticket_id,
        resource_id=taken.id,
        pool=taken.pool,
        message=f"got {taken.name}",
        details={"waited": max(0.0, now - opened_at)},
    )


def _ticket(row: sa.Row[Any]) -> Ticket:
    return Ticket(
        id=row.id,
        tags=tuple(row.tags),
        state=TicketState(row.state),
        sandbox=row.sandbox,
        resource_id=row.resource_id,
        priority=row.priority,
        created_at=row.created_at,
        assigned_at=row.assigned_at,
        closed_at=row.closed_at,
        message=row.message,
        ttl=row.ttl,
        expires_at=row.expires_at,
    )


def _resource(row: sa.Row[Any]) -> Resource:
    return Resource(
        id=row.id,
        pool=row.pool,
        name=row.name,
        state=ResourceState(row.state),
        tags=tuple(row.tags),
        data=row.data,
        ticket_id=row.ticket_id,
        sandbox=row.sandbox,
        id_in_pool=row.id_in_pool,
        releases=row.releases,
        created_at=row.created_at,
        state_since=row.state_since,
        last_livecheck=row.last_livecheck,
        livecheck_failures=row.livecheck_failures,
        delete_attempts=row.delete_attempts,
        next_attempt_at=row.next_attempt_at,
        message=row.message,
        counters=tuple(sorted((row.counters or {}).items())),
        hold_reason=row.hold_reason,
        reserved_for=row.reserved_for,
    )


def now() -> float:
    return time.time()
