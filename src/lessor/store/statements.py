"""The statements of the store's hot paths, built once and prepared (see prepared.py).

Building a Core statement costs several times more than running it, so the
ones every ticket or reconciler pass runs are module constants here, and the
guarded updates of every transition are built once per shape.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import sqlalchemy as sa

from lessor.domain.changes import INCREMENT, Keep
from lessor.domain.states import ResourceState as R
from lessor.domain.states import TicketState as T
from lessor.store import eventlog, prepared
from lessor.store.prepared import Prepared
from lessor.store.tables import ACTIVE_TICKET, LIVE_RESOURCE, pool_states, resources, tickets

LIVE = sa.text(LIVE_RESOURCE)
ACTIVE = sa.text(ACTIVE_TICKET)

# The statements of the hot paths (open, assign, close).
TICKET_COLUMNS = [
    "tags",
    "sandbox",
    "state",
    "priority",
    "created_at",
    "ttl",
    "expires_at",
    "key_hash",
    "idempotency_key",
]
INSERT_TICKET = Prepared(prepared.insert(tickets, TICKET_COLUMNS).returning(tickets.c.id))
TICKET = Prepared(tickets.select().where(tickets.c.id == sa.bindparam("id")))
TICKET_OF_REQUEST = Prepared(
    tickets.select().where(tickets.c.idempotency_key == sa.bindparam("idempotency_key"))
)
RESOURCE = Prepared(resources.select().where(resources.c.id == sa.bindparam("id")))
OPEN_BEFORE = Prepared(
    sa.select(sa.func.count())
    .select_from(tickets)
    .where(ACTIVE, tickets.c.state == T.OPEN, tickets.c.id < sa.bindparam("id"))
)
# What every reconciler pass reads.
LIVE_RESOURCES = Prepared(resources.select().where(LIVE))
ACTIVE_TICKETS = Prepared(tickets.select().where(ACTIVE))
ENDED_HOLDING = Prepared(
    # ended, but still holding a resource (to recycle it)
    tickets.select().where(
        sa.text(f"NOT ({ACTIVE_TICKET})"),
        tickets.c.id.in_(
            sa.select(resources.c.ticket_id).where(
                LIVE, resources.c.state == R.TAKEN, resources.c.ticket_id.is_not(None)
            )
        ),
    )
)
POOL_STATES = Prepared(pool_states.select().order_by(pool_states.c.name))


def _spares(of_sandbox: sa.ColumnElement[bool]) -> Prepared:
    """The UP resources of a pool a new ticket may take, lowest ids first: a seek on
    ix_resources_live (pool, state, sandbox), whose rows of one key are in id order."""
    return Prepared(
        resources.select()
        .where(
            LIVE,
            resources.c.pool == sa.bindparam("pool"),
            resources.c.state == R.UP,
            of_sandbox,
            resources.c.hold_reason.is_(None),
            resources.c.hook.is_(None),
        )
        .order_by(resources.c.id)
        .limit(sa.bindparam("n"))
    )


SPARES_OF_SANDBOX = _spares(resources.c.sandbox == sa.bindparam("sandbox"))
SPARES_UNUSED = _spares(resources.c.sandbox.is_(None))

BOUND = "g_"
"""Prefix of the bound parameters of guarded updates (a column's own name is reserved)."""

ALL = ("*",)
"""`returning` of a guarded update that gives the whole row back."""

GUARDS: dict[str, sa.ColumnElement[bool]] = {
    "unheld": resources.c.hold_reason.is_(None),
    "unclaimed": resources.c.hook.is_(None),
    "lapsed": tickets.c.expires_at <= sa.bindparam(BOUND + "now"),
    "held_by": tickets.c.key_hash == sa.bindparam(BOUND + "key_hash"),
}
"""Conditions a guarded update may add to its states, by name (`lapsed` binds `now`,
`held_by` binds `key_hash`)."""

GUARDED: dict[tuple[Any, ...], Prepared] = {}


def guarded_update(
    table: sa.Table,
    expected: Collection[str],
    values: Mapping[str, Any],
    returning: tuple[str, ...] = (),
    guards: tuple[str, ...] = (),
) -> Prepared:
    """`UPDATE table SET values WHERE id = :id AND state IN expected [AND guards] RETURNING …`,
    built once per shape of call: building a statement costs more than running it.

    It returns the columns an event about the row needs (eventlog.subject_columns) and those
    named in `returning` (ALL: every column): whether a row moved is whether a row came back.
    """
    increments = tuple(
        sorted(k for k, v in values.items() if v is INCREMENT or isinstance(v, Keep))
    )
    key = (
        table.name,
        tuple(sorted(expected)),
        tuple(sorted(values)),
        increments,
        returning,
        guards,
    )
    update = GUARDED.get(key)
    if update is None:
        bound = {k: _set(table.c[k], v) for k, v in values.items()}
        statement = table.update().where(table.c.id == sa.bindparam(BOUND + "id"))
        if expected:
            # One bind per state, not an IN list: expanding binds are rendered per call.
            statement = statement.where(sa.or_(*(table.c.state == state for state in expected)))
        for guard in guards:
            statement = statement.where(GUARDS[guard])
        statement = statement.values(bound)
        columns = eventlog.subject_columns(table)
        if returning == ALL:
            columns = list(table.c)
        else:
            columns += [table.c[c] for c in returning if table.c[c] not in columns]
        update = GUARDED[key] = Prepared(statement.returning(*columns))
    return update


def _set(column: sa.Column[Any], value: Any) -> Any:
    """What SET assigns the column for a change's value (domain/changes.py)."""
    if value is INCREMENT:
        return column + 1
    bound = sa.bindparam(BOUND + column.key, type_=column.type)
    return sa.func.coalesce(column, bound) if isinstance(value, Keep) else bound


def guarded_params(row_id: int, values: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters of `guarded_update(…, values)` for the row `row_id`."""
    params = {
        BOUND + k: v.default if isinstance(v, Keep) else v
        for k, v in values.items()
        if v is not INCREMENT
    }
    params[BOUND + "id"] = row_id
    return params
