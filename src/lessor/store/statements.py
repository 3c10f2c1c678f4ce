"""The statements of the store's hot paths, built once and prepared (see prepared.py).

Building a Core statement costs several times more than running it, so the
ones every ticket or reconciler pass runs are module constants here, and the
guarded updates of `SqlStore._guarded` are built once per shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from lessor.domain.states import ResourceState as R
from lessor.domain.states import TicketState as T
from lessor.store import eventlog, prepared
from lessor.store.prepared import Prepared
from lessor.store.tables import ACTIVE_TICKET, LIVE_RESOURCE, pool_states, resources, tickets

LIVE = sa.text(LIVE_RESOURCE)
ACTIVE = sa.text(ACTIVE_TICKET)

# The statements of the hot paths (open, assign, close), built once: building a
# statement costs several times more than running it.
TICKET_COLUMNS = ["tags", "sandbox", "state", "priority", "created_at", "ttl", "expires_at"]
INSERT_TICKET = Prepared(prepared.insert(tickets, TICKET_COLUMNS).returning(tickets.c.id))
TICKET = Prepared(tickets.select().where(tickets.c.id == sa.bindparam("id")))
RESOURCE = Prepared(resources.select().where(resources.c.id == sa.bindparam("id")))
OPEN_BEFORE = Prepared(
    sa.select(sa.func.count())
    .select_from(tickets)
    .where(ACTIVE, tickets.c.state == T.OPEN, tickets.c.id < sa.bindparam("id"))
)
ASSIGN_TICKET = Prepared(
    tickets.update()
    .where(tickets.c.id == sa.bindparam("ticket"), tickets.c.state == T.OPEN)
    .values(state=T.ASSIGNED, resource_id=sa.bindparam("resource"), assigned_at=sa.bindparam("now"))
    .returning(tickets.c.sandbox, tickets.c.created_at)
)
TAKE_RESOURCE = Prepared(
    resources.update()
    .where(resources.c.id == sa.bindparam("resource"), resources.c.state == R.UP)
    .values(
        state=R.TAKEN,
        ticket_id=sa.bindparam("ticket"),
        sandbox=sa.bindparam("b_sandbox"),
        state_since=sa.bindparam("now"),
        reserved_for=None,
    )
    .returning(resources.c.id, resources.c.pool, resources.c.name)
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
CLOSE_TICKET = Prepared(
    tickets.update()
    .where(
        tickets.c.id == sa.bindparam("b_id"),
        sa.or_(*(tickets.c.state == state for state in (T.OPEN, T.ASSIGNED, T.FAILED))),
    )
    .values(state=T.CLOSED, closed_at=sa.bindparam("b_now"))
    .returning(tickets)
)
REUSE_AT_ONCE = Prepared(
    resources.update()
    .where(resources.c.id == sa.bindparam("b_id"), resources.c.state == R.TAKEN)
    .values(
        state=R.UP,
        ticket_id=None,
        sandbox=sa.bindparam("b_sandbox"),
        releases=resources.c.releases + 1,
        state_since=sa.bindparam("b_now"),
    )
    .returning(resources.c.releases)
)


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
        )
        .order_by(resources.c.id)
        .limit(sa.bindparam("n"))
    )


SPARES_OF_SANDBOX = _spares(resources.c.sandbox == sa.bindparam("sandbox"))
SPARES_UNUSED = _spares(resources.c.sandbox.is_(None))

INCREMENT = object()
"""A value for `_guarded`: the column's value plus one."""

BOUND = "g_"
"""Prefix of the bound parameters of guarded updates (a column's own name is reserved)."""

GUARDED: dict[tuple[Any, ...], Prepared] = {}


def guarded_update(
    table: sa.Table, expected: list[Any], returning: bool, values: Mapping[str, Any]
) -> Prepared:
    """The guarded UPDATE for this shape of call, built once: building one costs more than
    running it."""
    increments = tuple(k for k, v in values.items() if v is INCREMENT)
    key = (table.name, tuple(expected), returning, tuple(sorted(values)), increments)
    update = GUARDED.get(key)
    if update is None:
        bound = {
            k: table.c[k] + 1 if v is INCREMENT else sa.bindparam(BOUND + k, type_=table.c[k].type)
            for k, v in values.items()
        }
        statement = (
            table.update()
            .where(table.c.id == sa.bindparam(BOUND + "id"))
            # One bind per state, not an IN list: expanding binds are rendered per call.
            .where(sa.or_(*(table.c.state == state for state in expected)))
            .values(bound)
        )
        # RETURNING the id at least: whether a row moved is whether a row came back.
        columns = eventlog.subject_columns(table) if returning else [table.c.id]
        update = GUARDED[key] = Prepared(statement.returning(*columns))
    return update
