"""The SQL store's jobs: parts opened together, granted together (domain/jobs.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import sqlalchemy as sa

from lessor.domain import events
from lessor.domain.jobs import job_granted, job_opened
from lessor.domain.model import Ticket
from lessor.domain.states import TicketMove
from lessor.store import eventlog
from lessor.store.rows import ticket_of
from lessor.store.tables import tickets
from lessor.store.tickets import TicketRows, _Conflict


class JobRows(TicketRows):
    def open_job(
        self,
        parts: Mapping[str, list[str]],
        priority: int,
        now: float,
        ttl: float | None = None,
        key_hash: str | None = None,
    ) -> list[Ticket]:
        expires_at = now + ttl if ttl is not None else None
        common = {
            "sandbox": None,
            "state": TicketMove.OPEN.target,
            "priority": priority,
            "created_at": now,
            "ttl": ttl,
            "expires_at": expires_at,
            "key_hash": key_hash,
        }
        with self._write() as conn:
            ids: list[int] = []
            for name, tags in parts.items():
                values = {
                    **common,
                    "tags": list(tags),
                    "part": name,
                    "job_id": ids[0] if ids else None,
                }
                ids.append(
                    conn.execute(
                        tickets.insert().values(values).returning(tickets.c.id)
                    ).scalar_one()
                )
            conn.execute(tickets.update().where(tickets.c.id == ids[0]).values(job_id=ids[0]))
            rows = conn.execute(tickets.select().where(tickets.c.id.in_(ids))).all()
            opened = sorted((ticket_of(r) for r in rows), key=lambda t: t.id)
            for t in opened:
                eventlog.record(conn, events.ticket_opened(t))
            eventlog.record(conn, job_opened(ids[0], {t.part or "": t for t in opened}, now))
        return opened

    def job_parts(self, job_id: int) -> list[Ticket]:
        with self._read() as conn:
            rows = conn.execute(
                tickets.select().where(tickets.c.job_id == job_id, sa.text("job_id IS NOT NULL"))
            ).all()
        return sorted((ticket_of(r) for r in rows), key=lambda t: t.id)

    def grant_job(self, job_id: int, grants: Sequence[tuple[int, int]], now: float) -> bool:
        try:
            with self._write(savepoint=True) as conn:
                given: dict[str, int] = {}
                opened_at = now
                for ticket_id, resource_id in grants:
                    ticket = self._assign_ticket(conn, ticket_id, resource_id, now)
                    if ticket is None:
                        raise _Conflict  # every part or none: the savepoint undoes the rest
                    taken = self._take(conn, resource_id, ticket_id, ticket.sandbox, now)
                    if taken is None:
                        raise _Conflict
                    opened_at = min(opened_at, ticket.created_at)
                    eventlog.record(
                        conn,
                        events.ticket_assigned(
                            ticket_id, ticket.created_at, taken.id, taken.pool, taken.name, now
                        ),
                    )
                    given[str(ticket_id)] = resource_id
                eventlog.record(conn, job_granted(job_id, given, opened_at, now))
        except _Conflict:
            return False
        return True
