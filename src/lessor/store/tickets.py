"""The SQL store's tickets: opening, assigning, closing, failing, expiring, renewing."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import sqlalchemy as sa

from lessor.domain import changes, events
from lessor.domain.events import Event
from lessor.domain.model import Resource, Ticket
from lessor.domain.paging import Page
from lessor.domain.states import ACTIVE_TICKET_STATES, ResourceMove, TicketMove, TicketState
from lessor.store import eventlog
from lessor.store import statements as st
from lessor.store.base import SqlBase
from lessor.store.rows import resource_of, ticket_of
from lessor.store.tables import resources, tickets

T = TicketState


class TicketRows(SqlBase):
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
        state, expires_at = TicketMove.OPEN.target, now + ttl if ttl is not None else None
        values = {
            "tags": list(tags),
            "sandbox": sandbox,
            "state": state,
            "priority": priority,
            "created_at": now,
            "ttl": ttl,
            "expires_at": expires_at,
            "key_hash": key_hash,
            "idempotency_key": idempotency_key,
        }
        if idempotency_key is not None:
            opened = self._ticket_of_request(idempotency_key)
            if opened is not None:
                return opened
        try:
            with self._write(savepoint=idempotency_key is not None) as conn:
                (row,) = st.INSERT_TICKET.execute(conn, values)
                # exactly what was written (the other columns keep their defaults, as Ticket's)
                ticket = Ticket(
                    row.id,
                    tuple(tags),
                    state,
                    sandbox,
                    None,
                    priority,
                    now,
                    ttl=ttl,
                    expires_at=expires_at,
                    key_hash=key_hash,
                    idempotency_key=idempotency_key,
                )
                eventlog.record(conn, events.ticket_opened(ticket))
        except sa.exc.IntegrityError:  # another server opened it since the read above
            assert idempotency_key is not None
            opened = self._ticket_of_request(idempotency_key)
            if opened is None:
                raise
            return opened
        return ticket

    def _ticket_of_request(self, idempotency_key: str) -> Ticket | None:
        with self._read() as conn:
            rows = st.TICKET_OF_REQUEST.execute(conn, {"idempotency_key": idempotency_key})
        return ticket_of(rows[0]) if rows else None

    def get_ticket(self, ticket_id: int) -> Ticket | None:
        with self._read() as conn:
            rows = st.TICKET.execute(conn, {"id": ticket_id})
        return ticket_of(rows[0]) if rows else None

    def list_tickets(
        self, states: Collection[TicketState] | None = None, page: Page | None = None
    ) -> list[Ticket]:
        q = tickets.select()
        if states is not None:
            q = q.where(tickets.c.state.in_(list(states)))
            if set(states) <= ACTIVE_TICKET_STATES:
                q = q.where(st.ACTIVE)  # the index of active rows, not all of history
        if page is not None:
            return [ticket_of(r) for r in self._page(q, tickets.c.id, page)]
        with self._read() as conn:
            rows = conn.execute(q).all()
        # Sorted here: ORDER BY id would have SQLite walk the whole table in id order.
        return sorted((ticket_of(r) for r in rows), key=lambda t: t.id)

    def open_tickets_before(self, ticket_id: int) -> int:
        with self._read() as conn:
            return int(st.OPEN_BEFORE.execute(conn, {"id": ticket_id})[0][0])

    def tickets_for_snapshot(self) -> list[Ticket]:
        with self._read() as conn:
            rows = st.ACTIVE_TICKETS.execute(conn) + st.ENDED_HOLDING.execute(conn)
        return [ticket_of(r) for r in rows]

    def close_ticket(
        self, ticket_id: int, now: float, key_hash: str | None = None
    ) -> tuple[Ticket, Resource | None] | None:
        move = TicketMove.CLOSE
        change = {**changes.ticket_closed(now), "state": move.target}
        params = st.guarded_params(ticket_id, change)
        with self._write() as conn:
            if key_hash is None:
                closed = _CLOSE.execute(conn, params)
            else:
                closed = _CLOSE_HELD.execute(conn, {**params, st.BOUND + "key_hash": key_hash})
            if not closed:
                return None
            ticket = ticket_of(closed[0])
            rows = (
                st.RESOURCE.execute(conn, {"id": ticket.resource_id}) if ticket.resource_id else []
            )
            resource = resource_of(rows[0]) if rows else None
            event = Event(
                move.event,
                now,
                ticket_id=ticket_id,
                resource_id=ticket.resource_id,
                pool=resource.pool if resource is not None else None,
            )
            eventlog.record(conn, event)
        return ticket, resource

    def fail_ticket(self, ticket_id: int, message: str, now: float) -> bool:
        change = changes.ticket_ended(message, now)
        moved = self._move(tickets, ticket_id, TicketMove.FAIL, change, now, message=message)
        return moved is not None

    def expire_ticket(self, ticket_id: int, message: str, now: float) -> bool:
        change = changes.ticket_ended(message, now)
        expired = self._move(
            tickets, ticket_id, TicketMove.EXPIRE, change, now, message=message, guards=("lapsed",)
        )
        return expired is not None

    def extend_ticket(self, ticket_id: int, ttl: float, now: float) -> bool:
        """Renew an active ticket's lease: it now ends `ttl` seconds from `now`."""
        return self._update(
            tickets, ticket_id, ACTIVE_TICKET_STATES, changes.ticket_extended(ttl, now)
        )

    def cut_lease(self, ticket_id: int, expected: float, to: float, event: Event) -> bool:
        cut = (
            tickets.update()
            .where(
                tickets.c.id == ticket_id,
                tickets.c.expires_at == expected,
                tickets.c.state.in_([str(s) for s in ACTIVE_TICKET_STATES]),
            )
            .values(expires_at=to)
        )
        with self._write() as conn:
            if conn.execute(cut).rowcount != 1:
                return False
            eventlog.record(conn, event)
        return True

    def assign(self, ticket_id: int, resource_id: int, now: float) -> bool:
        try:
            with self._write(savepoint=True) as conn:
                ticket = self._assign_ticket(conn, ticket_id, resource_id, now)
                if ticket is None:
                    return False
                taken = self._take(conn, resource_id, ticket_id, ticket.sandbox, now)
                if taken is None:
                    raise _Conflict  # rolls the ticket's update back with the savepoint
                eventlog.record(conn, _assigned(ticket_id, ticket.created_at, taken, now))
        except _Conflict:
            return False
        return True

    def assign_opened(
        self, ticket: Ticket, spare: Resource, now: float
    ) -> tuple[Ticket, Resource] | None:
        """No one else can see a ticket opened in this transaction yet, so its update
        cannot fail: the resource is taken first, and when someone took it before,
        nothing is written and nothing needs undoing (no savepoint, the fast path's
        price otherwise)."""
        with self._write() as conn:
            taken = self._take(conn, spare.id, ticket.id, ticket.sandbox, now)
            if taken is None:
                return None
            if self._assign_ticket(conn, ticket.id, spare.id, now) is None:
                raise RuntimeError(f"ticket {ticket.id} moved in the transaction that opened it")
            eventlog.record(conn, _assigned(ticket.id, ticket.created_at, taken, now))
        # exactly what the guarded updates wrote; no need to read the rows back
        state = {"state": TicketMove.ASSIGN.target}
        assigned = changes.applied(ticket, changes.ticket_assigned(spare.id, now), **state)
        change = changes.resource_taken(ticket.id, ticket.sandbox, now)
        return assigned, changes.applied(spare, change, state=ResourceMove.TAKE.target)

    @staticmethod
    def _assign_ticket(conn: Any, ticket_id: int, resource_id: int, now: float) -> Any | None:
        """ASSIGN, whose event is recorded with TAKE's (one event: ticket.assigned)."""
        change = {**changes.ticket_assigned(resource_id, now), "state": TicketMove.ASSIGN.target}
        rows = _ASSIGN.execute(conn, st.guarded_params(ticket_id, change))
        return rows[0] if rows else None

    @staticmethod
    def _take(
        conn: Any, resource_id: int, ticket_id: int, sandbox: str | None, now: float
    ) -> Any | None:
        """TAKE, if the resource is not held and no hook runs on it."""
        change = {
            **changes.resource_taken(ticket_id, sandbox, now),
            "state": ResourceMove.TAKE.target,
        }
        rows = _TAKE.execute(conn, st.guarded_params(resource_id, change))
        return rows[0] if rows else None


# The guarded updates of every ticket's open and close, built once (only the change's keys
# shape a statement: the values here are placeholders).
_ASSIGN = st.guarded_update(
    tickets,
    TicketMove.ASSIGN.sources,
    {**changes.ticket_assigned(0, 0.0), "state": TicketMove.ASSIGN.target},
    ("sandbox", "created_at"),
)
_TAKE = st.guarded_update(
    resources,
    ResourceMove.TAKE.sources,
    {**changes.resource_taken(0, None, 0.0), "state": ResourceMove.TAKE.target},
    ("name",),
    guards=("unheld", "unclaimed"),
)
_CLOSE = st.guarded_update(
    tickets,
    TicketMove.CLOSE.sources,
    {**changes.ticket_closed(0.0), "state": TicketMove.CLOSE.target},
    st.ALL,
)
_CLOSE_HELD = st.guarded_update(
    tickets,
    TicketMove.CLOSE.sources,
    {**changes.ticket_closed(0.0), "state": TicketMove.CLOSE.target},
    st.ALL,
    guards=("held_by",),
)


class _Conflict(Exception):
    """Another transaction moved a row first."""


def _assigned(ticket_id: int, opened_at: float, taken: Any, now: float) -> Event:
    """ticket.assigned, of the columns the two guarded updates returned."""
    return events.ticket_assigned(ticket_id, opened_at, taken.id, taken.pool, taken.name, now)
