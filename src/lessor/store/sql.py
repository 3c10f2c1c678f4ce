"""SqlStore: the Store on SQLite or PostgreSQL, every transition a guarded UPDATE."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Collection, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from lessor.domain.model import Resource, Ticket
from lessor.domain.states import (
    ACTIVE_TICKET_STATES,
    LIVE_RESOURCE_STATES,
    ResourceState,
    TicketState,
)
from lessor.store import migrate
from lessor.store.engine import READONLY, make_engine
from lessor.store.tables import resources, tickets

R = ResourceState
T = TicketState


class SqlStore:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        # SQLite has one writer at a time, and a writer that finds the lock
        # taken sleeps in growing steps (busy_timeout): milliseconds lost on
        # every collision between the API and the reconciler. Queueing our
        # own writers on a lock hands over at once; other processes still
        # meet busy_timeout. PostgreSQL writers need no such queue.
        self._writers: AbstractContextManager[object] = (
            threading.RLock() if engine.dialect.name == "sqlite" else nullcontext()
        )

    @classmethod
    def connect(cls, url: str, *, migrate_schema: bool = True) -> SqlStore:
        engine = make_engine(url)
        if migrate_schema:
            migrate.upgrade(engine)
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        with self.engine.connect().execution_options(**{READONLY: True}) as conn, conn.begin():
            yield conn

    @contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        with self._writers, self.engine.begin() as conn:
            yield conn

    def ping(self) -> None:
        with self._read() as conn:
            conn.execute(sa.text("SELECT 1"))

    # ---- tickets -------------------------------------------------------

    def open_ticket(
        self, tags: list[str], sandbox: str | None, priority: int, now: float
    ) -> Ticket:
        values = {
            "tags": list(tags),
            "sandbox": sandbox,
            "state": T.OPEN,
            "priority": priority,
            "created_at": now,
        }
        with self._write() as conn:
            row = conn.execute(tickets.insert().values(**values).returning(tickets)).one()
        return _ticket(row)

    def get_ticket(self, ticket_id: int) -> Ticket | None:
        with self._read() as conn:
            row = conn.execute(tickets.select().where(tickets.c.id == ticket_id)).one_or_none()
        return _ticket(row) if row else None

    def list_tickets(self, states: Collection[TicketState] | None = None) -> list[Ticket]:
        q = tickets.select().order_by(tickets.c.id)
        if states is not None:
            q = q.where(tickets.c.state.in_(list(states)))
        with self._read() as conn:
            return [_ticket(r) for r in conn.execute(q)]

    def open_tickets_before(self, ticket_id: int) -> int:
        """How many tickets opened earlier still wait (the fast path steps aside for them)."""
        q = (
            sa.select(sa.func.count())
            .select_from(tickets)
            .where(tickets.c.state == T.OPEN, tickets.c.id < ticket_id)
        )
        with self._read() as conn:
            return int(conn.execute(q).scalar_one())

    def tickets_for_snapshot(self) -> list[Ticket]:
        """Active tickets, plus ended ones still holding a resource (to recycle it)."""
        held = sa.select(resources.c.ticket_id).where(
            resources.c.state == R.TAKEN, resources.c.ticket_id.is_not(None)
        )
        q = tickets.select().where(
            sa.or_(tickets.c.state.in_(list(ACTIVE_TICKET_STATES)), tickets.c.id.in_(held))
        )
        with self._read() as conn:
            return [_ticket(r) for r in conn.execute(q)]

    def close_ticket(self, ticket_id: int, now: float) -> bool:
        return self._guarded(
            tickets,
            ticket_id,
            [T.OPEN, T.ASSIGNED, T.FAILED],
            state=T.CLOSED,
            closed_at=now,
        )

    def fail_ticket(self, ticket_id: int, message: str, now: float) -> bool:
        return self._guarded(
            tickets, ticket_id, [T.OPEN], state=T.FAILED, message=message, closed_at=now
        )

    def assign(self, ticket_id: int, resource_id: int, now: float) -> bool:
        """Both rows move together or neither does."""
        try:
            return self._assign(ticket_id, resource_id, now)
        except _Conflict:
            return False

    def _assign(self, ticket_id: int, resource_id: int, now: float) -> bool:
        with self._write() as conn:
            ticket = conn.execute(
                tickets.update()
                .where(tickets.c.id == ticket_id, tickets.c.state == T.OPEN)
                .values(state=T.ASSIGNED, resource_id=resource_id, assigned_at=now)
                .returning(tickets.c.sandbox)
            ).one_or_none()
            if ticket is None:
                return False
            moved = conn.execute(
                resources.update()
                .where(resources.c.id == resource_id, resources.c.state == R.UP)
                .values(state=R.TAKEN, ticket_id=ticket_id, sandbox=ticket.sandbox, state_since=now)
            ).rowcount
            if moved != 1:
                raise _Conflict  # rolls the ticket's update back with the transaction
        return True

    # ---- resources -----------------------------------------------------

    def get_resource(self, resource_id: int) -> Resource | None:
        with self._read() as conn:
            row = conn.execute(
                resources.select().where(resources.c.id == resource_id)
            ).one_or_none()
        return _resource(row) if row else None

    def list_resources(
        self, states: Collection[ResourceState] | None = None, pool: str | None = None
    ) -> list[Resource]:
        q = resources.select().order_by(resources.c.id)
        if states is not None:
            q = q.where(resources.c.state.in_(list(states)))
        if pool is not None:
            q = q.where(resources.c.pool == pool)
        with self._read() as conn:
            return [_resource(r) for r in conn.execute(q)]

    def live_resources(self) -> list[Resource]:
        return self.list_resources(LIVE_RESOURCE_STATES)

    def create_resource(
        self, pool: str, tags: list[str], name_pattern: str, now: float
    ) -> Resource:
        with self._write() as conn:
            used = set(
                conn.execute(
                    sa.select(resources.c.id_in_pool).where(
                        resources.c.pool == pool, resources.c.state != R.ENDED
                    )
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
                )
                .returning(resources.c.id)
            ).one()
            name = _format_name(name_pattern, pool, row.id, id_in_pool, now)
            conn.execute(resources.update().where(resources.c.id == row.id).values(name=name))
            created = conn.execute(resources.select().where(resources.c.id == row.id)).one()
        return _resource(created)

    def mark_up(self, resource_id: int, data: bytes, now: float) -> bool:
        return self._guarded(
            resources, resource_id, [R.STARTING], state=R.UP, data=data, state_since=now
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
            state=R.DELETE_REQUESTED,
            message=message,
            state_since=now,
            next_attempt_at=now,
        )

    def start_delete(self, resource_id: int, now: float) -> bool:
        return self._guarded(
            resources, resource_id, [R.DELETE_REQUESTED], state=R.DELETING, state_since=now
        )

    def mark_ended(self, resource_id: int, now: float) -> bool:
        return self._guarded(resources, resource_id, [R.DELETING], state=R.ENDED, state_since=now)

    def delete_failed(self, resource_id: int, message: str, retry_at: float, now: float) -> bool:
        return self._guarded(
            resources,
            resource_id,
            [R.DELETING],
            state=R.DELETE_REQUESTED,
            message=message,
            next_attempt_at=retry_at,
            delete_attempts=resources.c.delete_attempts + 1,
        )

    def recycle(self, resource_id: int, reuse: bool, sandbox: str | None, now: float) -> bool:
        if reuse:
            return self._guarded(
                resources,
                resource_id,
                [R.TAKEN],
                state=R.RELEASING,
                sandbox=sandbox,
                state_since=now,
            )
        return self.request_delete(resource_id, [R.TAKEN], "ticket closed", now)

    def release_done(self, resource_id: int, now: float) -> bool:
        return self._guarded(
            resources,
            resource_id,
            [R.RELEASING],
            state=R.UP,
            ticket_id=None,
            releases=resources.c.releases + 1,
            state_since=now,
        )

    def livecheck_passed(self, resource_id: int, now: float) -> bool:
        return self._guarded(
            resources, resource_id, [R.UP], last_livecheck=now, livecheck_failures=0
        )

    def livecheck_failed(
        self, resource_id: int, attempts: int, message: str, now: float
    ) -> ResourceState | None:
        """Count a failure; the one that reaches `attempts` requests deletion."""
        with self._write() as conn:
            row = conn.execute(
                resources.update()
                .where(resources.c.id == resource_id, resources.c.state == R.UP)
                .values(
                    last_livecheck=now,
                    livecheck_failures=resources.c.livecheck_failures + 1,
                    message=message,
                )
                .returning(resources.c.livecheck_failures)
            ).one_or_none()
            if row is None:
                return None
            if row.livecheck_failures < attempts:
                return R.UP
            conn.execute(
                resources.update()
                .where(resources.c.id == resource_id, resources.c.state == R.UP)
                .values(state=R.DELETE_REQUESTED, state_since=now, next_attempt_at=now)
            )
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
                    .returning(resources.c.id)
                ).scalars()
            )
        return ids

    def pool_counts(self) -> Mapping[str, Mapping[ResourceState, int]]:
        q = (
            sa.select(resources.c.pool, resources.c.state, sa.func.count())
            .where(resources.c.state != R.ENDED)
            .group_by(resources.c.pool, resources.c.state)
        )
        counts: dict[str, dict[ResourceState, int]] = defaultdict(dict)
        with self._read() as conn:
            for pool, state, n in conn.execute(q):
                counts[pool][ResourceState(state)] = n
        return counts

    # ---- helpers -------------------------------------------------------

    def _guarded(self, table: sa.Table, row_id: int, expected: list[Any], **values: Any) -> bool:
        with self._write() as conn:
            result = conn.execute(
                table.update()
                .where(table.c.id == row_id, table.c.state.in_(expected))
                .values(**values)
            )
        return result.rowcount == 1


class _Conflict(Exception):
    """Another transaction moved a row first."""


def _format_name(pattern: str, pool: str, rid: int, id_in_pool: int, now: float) -> str:
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y%m%d_%H%M%S")
    try:
        return pattern.format(pool_name=pool, id=rid, datetime=stamp, id_in_pool=id_in_pool)
    except (KeyError, IndexError, ValueError):
        return f"{pool}_{rid:08d}_{stamp}"


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
    )


def now() -> float:
    return time.time()
