"""Reading a resalloc database and translating it into lessor's tickets and resources.

resalloc's schema (tables resources, tickets, resource_tags, ticket_tags,
pools, ids_within_pool and, since 2026, named_counters) is read by
reflection, so databases of older resalloc versions, lacking some columns
or tables, import too.

What is taken over, and how:

- live resources (state not ENDED), with their ids, names, data, tags, id in
  pool, named counters, sandbox and reuse count. An UP resource stays UP
  (or TAKEN when it holds a ticket): no cmd_new runs for it. A resource that
  was in the middle of a hook (STARTING, RELEASING, DELETING) or waiting for
  deletion goes to deletion, which is what resalloc itself does with them
  at a restart; cmd_delete is idempotent.
- tickets not closed, and closed ones whose resource is still held; an
  assigned ticket keeps its resource, so its client notices nothing.
- the resources those tickets name, even ended ones (as history), so that a
  client still gets its data back; and the newest ticket and resource, so
  that new ids count on from resalloc's instead of reusing old ones.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from lessor.domain.model import Resource, Ticket
from lessor.domain.states import ResourceState, TicketState

R = ResourceState
T = TicketState

CHUNK = 500
"""Ids per `IN (…)` query, well below every database's parameter limit."""


class NotImportable(Exception):
    """The resalloc database cannot be read or taken over; the message says why."""


@dataclass
class Takeover:
    """What an import would write, and what an operator should know about it."""

    tickets: list[Ticket] = field(default_factory=list)
    resources: list[Resource] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def read_resalloc(url: str, now: float | None = None) -> Takeover:
    """Everything to take over from the resalloc database at `url`; it is only read."""
    now = time.time() if now is None else now
    try:
        engine = sa.create_engine(url)
    except (sa.exc.ArgumentError, ImportError, ValueError) as e:
        raise NotImportable(f"not a database URL {url!r}: {e}") from e
    try:
        with engine.connect() as conn:
            return _Reader(conn, now).read()
    except sa.exc.OperationalError as e:
        raise NotImportable(f"cannot read the resalloc database: {e.orig}") from e
    finally:
        engine.dispose()


class _Reader:
    def __init__(self, conn: sa.Connection, now: float) -> None:
        self.conn = conn
        self.now = now
        present = set(sa.inspect(conn).get_table_names())
        missing = {"resources", "tickets"} - present
        if missing:
            raise NotImportable(
                f"not a resalloc database: no table {', '.join(sorted(missing))} "
                f"(found: {', '.join(sorted(present)) or 'no tables'})"
            )
        meta = sa.MetaData()
        wanted = ["resources", "tickets", "resource_tags", "ticket_tags", "ids_within_pool"]
        wanted.append("named_counters")
        meta.reflect(conn, only=[t for t in wanted if t in present])
        self.t = meta.tables

    def read(self) -> Takeover:
        res_t, tick_t = self.t["resources"], self.t["tickets"]
        live = self._rows(res_t, res_t.c.state != "ENDED")
        newest_resource = self._newest(res_t)
        held = {r["ticket_id"] for r in live if r.get("ticket_id") is not None}
        tickets = self._rows(tick_t, tick_t.c.state != "CLOSED")
        tickets += self._by_ids(tick_t, held - {t["id"] for t in tickets})
        newest_ticket = self._newest(tick_t)
        if newest_ticket and newest_ticket["id"] not in {t["id"] for t in tickets}:
            tickets.append(newest_ticket)
        known = {r["id"] for r in live}
        named = {t["resource_id"] for t in tickets if t.get("resource_id") is not None}
        history = self._by_ids(res_t, named - known)
        if newest_resource and newest_resource["id"] not in known | named:
            history.append(newest_resource)

        rows = live + history
        ids = [r["id"] for r in rows]
        out = Takeover()
        resources = self._resources(rows, self._tags("resource_tags", "resource_id", ids), out)
        ticket_tags = self._tags("ticket_tags", "ticket_id", [t["id"] for t in tickets])
        out.tickets = [self._ticket(t, ticket_tags, resources, out) for t in tickets]
        # Only a TAKEN resource points at its ticket (and the ticket was imported with it).
        out.resources = [
            r if r.state is R.TAKEN else r.evolve(ticket_id=None) for r in resources.values()
        ]
        out.tickets.sort(key=lambda t: t.id)
        out.resources.sort(key=lambda r: r.id)
        return out

    # ---- resources -----------------------------------------------------

    def _resources(
        self, rows: Sequence[Mapping[str, Any]], tags: Mapping[int, list[str]], out: Takeover
    ) -> dict[int, Resource]:
        ids_in_pool = self._ids_in_pool([r["id"] for r in rows])
        counters = self._counters([r["id"] for r in rows])
        taken_numbers: dict[str, set[int]] = defaultdict(set)
        result: dict[int, Resource] = {}
        unnumbered: list[Resource] = []
        for row in rows:
            r = self._resource(row, tags.get(row["id"], []))
            r = r.evolve(counters=tuple(sorted(counters.get(r.id, {}).items())))
            number = ids_in_pool.get(r.id)
            if r.state is not R.ENDED:
                if number is None or number in taken_numbers[r.pool]:
                    unnumbered.append(r)
                    continue
                taken_numbers[r.pool].add(number)
            result[r.id] = r.evolve(id_in_pool=number or 0)
        for r in unnumbered:  # resalloc numbers resources only once they start
            used = taken_numbers[r.pool]
            number = next(i for i in range(len(used) + 1) if i not in used)
            used.add(number)
            result[r.id] = r.evolve(id_in_pool=number)
        ending = [r.name for r in result.values() if r.state is R.DELETE_REQUESTED]
        if ending:
            out.notes.append(
                f"{len(ending)} resource(s) were mid-hook or waiting for deletion under resalloc; "
                f"lessor deletes them with cmd_delete: {', '.join(ending)}"
            )
        return result

    def _resource(self, row: Mapping[str, Any], tags: list[str]) -> Resource:
        state = str(row["state"])
        ticket_id = row.get("ticket_id")
        message = "imported from resalloc"
        if state == "UP":
            new_state = R.TAKEN if ticket_id is not None else R.UP
        elif state == "ENDED":
            new_state = R.ENDED
        else:
            new_state = R.DELETE_REQUESTED
            message = f"imported from resalloc in state {state}"
        released_at = row.get("released_at")
        return Resource(
            id=int(row["id"]),
            pool=str(row["pool"]),
            name=str(row.get("name") or f"{row['pool']}_{int(row['id']):08d}"),
            state=new_state,
            tags=tuple(sorted(tags)),
            data=bytes(row["data"]) if row.get("data") is not None else None,
            ticket_id=int(ticket_id) if ticket_id is not None else None,
            sandbox=row.get("sandbox"),
            releases=int(row.get("releases_counter") or 0),
            created_at=float(row.get("sandboxed_since") or self.now),
            state_since=float(released_at or self.now) if new_state is R.UP else self.now,
            last_livecheck=row.get("check_last_time"),
            livecheck_failures=int(row.get("check_failed_count") or 0),
            next_attempt_at=self.now,
            message=message,
        )

    def _ids_in_pool(self, ids: Sequence[int]) -> dict[int, int]:
        if "ids_within_pool" not in self.t:
            return {}
        t = self.t["ids_within_pool"]
        return {
            int(row["resource_id"]): int(row["id"])
            for row in self._in(t, t.c.resource_id, ids)
            if row["id"] is not None
        }

    def _counters(self, ids: Sequence[int]) -> dict[int, dict[str, int]]:
        if "named_counters" not in self.t:
            return {}
        t = self.t["named_counters"]
        found: dict[int, dict[str, int]] = defaultdict(dict)
        for row in self._in(t, t.c.resource_id, ids):
            if row["counter_name"] is not None and row["value"] is not None:
                found[int(row["resource_id"])][str(row["counter_name"])] = int(row["value"])
        return found

    # ---- tickets -------------------------------------------------------

    def _ticket(
        self,
        row: Mapping[str, Any],
        tags: Mapping[int, list[str]],
        resources: Mapping[int, Resource],
        out: Takeover,
    ) -> Ticket:
        tid = int(row["id"])
        state = str(row["state"])
        resource_id = row.get("resource_id")
        resource = resources.get(int(resource_id)) if resource_id is not None else None
        message = ""
        if state == "CLOSED":
            new_state = T.CLOSED
        elif state == "FAILED":
            new_state, message = T.FAILED, "failed under resalloc"
        elif resource_id is None:
            new_state = T.OPEN
        elif resource is not None and resource.state is R.TAKEN and resource.ticket_id == tid:
            new_state = T.ASSIGNED
        else:
            new_state, message = T.FAILED, "its resource was lost under resalloc"
            out.notes.append(f"ticket {tid}: its resource {resource_id} is gone; marked FAILED")
        ended = new_state in (T.CLOSED, T.FAILED)
        return Ticket(
            id=tid,
            tags=tuple(tags.get(tid, [])),
            state=new_state,
            sandbox=row.get("sandbox"),
            resource_id=int(resource_id) if resource_id is not None else None,
            created_at=self.now,
            assigned_at=self.now if resource_id is not None else None,
            closed_at=self.now if ended else None,
            message=message,
        )

    # ---- queries -------------------------------------------------------

    def _rows(self, table: sa.Table, where: sa.ColumnElement[bool]) -> list[dict[str, Any]]:
        q = table.select().where(where).order_by(table.c.id)
        return [dict(row) for row in self.conn.execute(q).mappings()]

    def _newest(self, table: sa.Table) -> dict[str, Any] | None:
        row = self.conn.execute(table.select().order_by(table.c.id.desc()).limit(1)).mappings()
        first = row.first()
        return dict(first) if first else None

    def _by_ids(self, table: sa.Table, ids: set[int]) -> list[dict[str, Any]]:
        return [dict(row) for row in self._in(table, table.c.id, sorted(ids))]

    def _in(
        self, table: sa.Table, column: sa.ColumnElement[Any], ids: Sequence[int]
    ) -> list[Mapping[str, Any]]:
        found: list[Mapping[str, Any]] = []
        for start in range(0, len(ids), CHUNK):
            chunk = list(ids[start : start + CHUNK])
            q = table.select().where(column.in_(chunk))
            found += [dict(row) for row in self.conn.execute(q).mappings()]
        return found

    def _tags(self, table_name: str, key: str, ids: Sequence[int]) -> dict[int, list[str]]:
        if table_name not in self.t:
            return {}
        t = self.t[table_name]
        tags: dict[int, list[str]] = defaultdict(list)
        for row in self._in(t, t.c[key], ids):
            tags[int(row[key])].append(str(row["id"]))
        return tags
