"""The event log's SQL: written inside the transaction of the transition it records."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from pydantic_core import to_json

from lessor.domain.events import Event, EventFilter
from lessor.domain.kinds import EventKind
from lessor.domain.states import RESOURCE_STATE_AFTER, ResourceState, TicketState, state_after
from lessor.store import notify
from lessor.store.prepared import Prepared, insert
from lessor.store.tables import events, resources, tickets

_COLUMNS = ["at", "kind", "ticket_id", "resource_id", "pool", "message", "details"]
"""The order of the table (an INSERT names its columns so), which `flush` follows."""
_INSERT_SORTED = insert(events, _COLUMNS).returning(events.c.id, sort_by_parameter_order=True)
_INSERTS: dict[int, Prepared] = {}
"""Built once: one cached statement for every event (this runs inside each transition)."""

_POOL_OF = Prepared(sa.select(resources.c.pool).where(resources.c.id == sa.bindparam("rid")))

PENDING = "lessor_events"
"""Key in a write connection's `info`: events recorded in its open transaction."""


def record(conn: sa.Connection, event: Event) -> None:
    """Log the event with the transaction it belongs to (see `flush`)."""
    conn.info.setdefault(PENDING, []).append(event)


def flush(conn: sa.Connection) -> list[Event]:
    """Insert the transaction's events just before it commits.

    They become visible with the rows they describe, never apart; listeners
    get them, with their ids, once the transaction has committed.
    """
    pending: list[Event] = conn.info.pop(PENDING, [])
    if not pending:
        return []
    if conn.dialect.name != "sqlite":
        got = conn.execute(_INSERT_SORTED, [_values(e) for e in pending]).scalars().all()
        # other servers' waiters and planner, woken at the commit (store/notify.py)
        touched = {e.ticket_id for e in pending if e.ticket_id is not None}
        conn.execute(notify.NOTIFY, {"channel": notify.CHANNEL, "payload": notify.payload(touched)})
        return [e.evolve(id=i) for e, i in zip(pending, got, strict=True)]
    # One statement for all of them. The one writer's multi-row INSERT takes
    # consecutive rowids (each the largest so far plus one), so the last id
    # tells all of them.
    ids: list[int] = []
    for start in range(0, len(pending), _ROWS):
        chunk = pending[start : start + _ROWS]
        values: list[Any] = []
        for e in chunk:
            details = to_json(dict(e.details)).decode() if e.details else "{}"
            values += (e.at, str(e.kind), e.ticket_id, e.resource_id, e.pool, e.message, details)
        last = _insert_rows(len(chunk)).insert_values(conn, values)
        ids += range(last - len(chunk) + 1, last + 1)
    return [e.evolve(id=i) for e, i in zip(pending, ids, strict=True)]


_ROWS = 100
"""Events an INSERT carries at most: 700 parameters, far below SQLite's limit, and a
few statements to cache however large a transaction (a group commit, a big pass)."""


def _insert_rows(n: int) -> Prepared:
    """INSERT of `n` events at once, its values in the order of _COLUMNS; built once per n."""
    prepared = _INSERTS.get(n)
    if prepared is None:
        rows = [
            {c: sa.bindparam(f"{c}_{i}", type_=events.c[c].type) for c in _COLUMNS}
            for i in range(n)
        ]
        prepared = _INSERTS[n] = Prepared(events.insert().values(rows))
    return prepared


def _values(event: Event) -> dict[str, Any]:
    return {
        "at": event.at,
        "kind": str(event.kind),
        "ticket_id": event.ticket_id,
        "resource_id": event.resource_id,
        "pool": event.pool,
        "message": event.message,
        "details": dict(event.details),
    }


def about(conn: sa.Connection, event: Event, row: sa.Row[Any], table: sa.Table) -> Event:
    """The event completed with the ids and pool of the row a guarded update moved.

    A ticket's event names its resource's pool too, so that following a
    pool shows its tickets closing as well as its resources moving.
    """
    if table is resources:
        return event.evolve(
            resource_id=row.id,
            pool=event.pool or row.pool,
            ticket_id=event.ticket_id if event.ticket_id is not None else row.ticket_id,
        )
    rid = event.resource_id if event.resource_id is not None else row.resource_id
    pool = event.pool
    if pool is None and rid is not None:
        rows = _POOL_OF.execute(conn, {"rid": rid})
        pool = rows[0].pool if rows else None
    return event.evolve(ticket_id=row.id, resource_id=rid, pool=pool)


def subject_columns(table: sa.Table) -> list[sa.Column[Any]]:
    if table is resources:
        return [resources.c.id, resources.c.pool, resources.c.ticket_id]
    return [table.c.id, table.c.resource_id]


def select(conn: sa.Connection, f: EventFilter) -> list[Event]:
    """Matching events, oldest first: the newest `limit` ones, or the first after `after_id`."""
    q = events.select()
    if f.ticket_id is not None:
        q = q.where(events.c.ticket_id == f.ticket_id)
    if f.resource_id is not None:
        q = q.where(events.c.resource_id == f.resource_id)
    if f.pool is not None:
        q = q.where(events.c.pool == f.pool)
    if f.since is not None:
        q = q.where(events.c.at >= f.since)
    if f.kinds:
        q = q.where(events.c.kind.in_(list(f.kinds)))
    if f.after_id is not None:
        rows = conn.execute(q.where(events.c.id > f.after_id).order_by(events.c.id).limit(f.limit))
        return [_event(r) for r in rows]
    rows = conn.execute(q.order_by(events.c.id.desc()).limit(f.limit))
    return [_event(r) for r in reversed(list(rows))]


def resource_states_at(conn: sa.Connection, at: float) -> dict[int, tuple[str, ResourceState]]:
    """Each resource's pool and state at time `at`, as its events up to then tell it.

    Only resources that may still have been alive then are looked at (not
    ENDED before `at`), so the cost follows the live set, not all history.
    """
    moving = [str(k) for k in (*RESOURCE_STATE_AFTER, EventKind.RESOURCE_IMPORTED)]
    candidates = sa.select(resources.c.id).where(
        sa.or_(resources.c.state != ResourceState.ENDED, resources.c.state_since >= at)
    )
    last = (
        sa.select(sa.func.max(events.c.id).label("id"))
        .where(
            events.c.at < at,
            events.c.kind.in_(moving),
            events.c.resource_id.in_(candidates),
        )
        .group_by(events.c.resource_id)
    ).subquery()
    q = sa.select(events.c.resource_id, events.c.pool, events.c.kind, events.c.details).join(
        last, events.c.id == last.c.id
    )
    states: dict[int, tuple[str, ResourceState]] = {}
    for rid, pool, kind, details in conn.execute(q):
        state = state_after(kind, details or {})
        if state is not None and state is not ResourceState.ENDED:
            states[rid] = (pool or "", state)
    return states


def waiting_tickets_at(conn: sa.Connection, at: float) -> set[int]:
    """Ids of the tickets that were OPEN (waiting) at time `at`.

    One that is not open now but was then must have been assigned or closed
    since, which left an event after `at`: that bounds the search to the
    open tickets and the recent past, however long the history.
    """
    touched = sa.select(events.c.ticket_id).where(
        events.c.at >= at, events.c.ticket_id.is_not(None)
    )
    q = sa.select(tickets.c.id).where(
        tickets.c.created_at < at,
        sa.or_(tickets.c.assigned_at.is_(None), tickets.c.assigned_at >= at),
        sa.or_(tickets.c.closed_at.is_(None), tickets.c.closed_at >= at),
        sa.or_(tickets.c.state == TicketState.OPEN, tickets.c.id.in_(touched)),
    )
    return set(conn.execute(q).scalars())


def _event(row: sa.Row[Any]) -> Event:
    return Event(
        id=row.id,
        kind=_kind(row.kind),
        at=row.at,
        ticket_id=row.ticket_id,
        resource_id=row.resource_id,
        pool=row.pool,
        message=row.message,
        details=row.details or {},
    )


def _kind(kind: str) -> str:
    try:
        return EventKind(kind)
    except ValueError:
        return kind


def record_all(conn: sa.Connection, batch: Iterable[Event]) -> None:
    for event in batch:
        record(conn, event)
