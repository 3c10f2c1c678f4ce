"""Taking over another system's rows (`lessor import-resalloc`), ids and all."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from lessor.domain import events
from lessor.domain.model import Resource, Ticket
from lessor.domain.states import ResourceState
from lessor.store import eventlog
from lessor.store.base import SqlBase
from lessor.store.rows import resource_values, ticket_values
from lessor.store.tables import resources, tickets

_HOOK_FIELDS = ("hook", "hook_owner", "hook_until")
"""No hook of ours runs on what another system made."""


class Adoption(SqlBase):
    def is_empty(self) -> bool:
        with self._read() as conn:
            for table in (tickets, resources):
                if conn.execute(sa.select(table.c.id).limit(1)).first() is not None:
                    return False
        return True

    def adopt(self, ticket_rows: Sequence[Ticket], resource_rows: Sequence[Resource]) -> None:
        """Clients hold ticket ids and hooks' logs are named by resource id, so both are
        kept; new rows then count on from the highest id adopted."""
        with self._write() as conn:
            if ticket_rows:
                conn.execute(tickets.insert(), [ticket_values(t) for t in ticket_rows])
            if resource_rows:
                rows = [resource_values(r) for r in resource_rows]
                for row in rows:
                    for field in _HOOK_FIELDS:
                        row.pop(field)
                conn.execute(resources.insert(), rows)
                for r in resource_rows:
                    if r.state is not ResourceState.ENDED:  # the UI's history counts it from now
                        eventlog.record(conn, events.resource_imported(r))
            if conn.dialect.name == "postgresql":
                for table in ("tickets", "resources"):
                    conn.execute(
                        sa.text(
                            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                            f"(SELECT MAX(id) FROM {table})) WHERE EXISTS (SELECT 1 FROM {table})"
                        )
                    )
