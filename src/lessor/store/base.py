"""What every part of the SQL store does with a row: a guarded move, a guarded update.

A move is a transition of the table (domain/states.py): the UPDATE sets the
transition's target state and the change (domain/changes.py), only where the
row is in one of the transition's sources, and records the transition's
event in the same transaction. An update changes fields without a move
(a livecheck counted, a hold, a lease renewed), guarded by states too.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import sqlalchemy as sa

from lessor.domain.changes import Change
from lessor.domain.events import Event
from lessor.domain.paging import Page
from lessor.domain.states import Transition
from lessor.store import eventlog
from lessor.store import statements as st
from lessor.store.transactions import Transactions


class SqlBase:
    def __init__(self, tx: Transactions) -> None:
        self._tx = tx
        self._read = tx.read
        self._write = tx.write

    def _page(self, q: sa.Select[Any], key: sa.ColumnElement[int], page: Page) -> list[Any]:
        """The rows of one page of `q`: a keyset query (`key > cursor ORDER BY key LIMIT n`)
        that reads the page's rows only, however long the history."""
        if page.newest_first:
            if page.after is not None:
                q = q.where(key < page.after)
            q = q.order_by(key.desc())
        else:
            if page.after is not None:
                q = q.where(key > page.after)
            q = q.order_by(key)
        with self._read() as conn:
            return list(conn.execute(q.limit(page.limit)).all())

    def _move(
        self,
        table: sa.Table,
        row_id: int,
        move: Transition[Any],
        change: Change,
        now: float,
        *,
        among: Collection[Any] | None = None,
        message: str = "",
        details: Mapping[str, Any] | None = None,
        returning: tuple[str, ...] = (),
        guards: tuple[str, ...] = (),
    ) -> Any | None:
        """Make `move` on the row, if it is in one of the move's sources (and of `among`)
        and passes `guards` (statements.GUARDS): the row as RETURNING gave it (the
        subject's columns and `returning`), or None."""
        sources = move.sources if among is None else move.sources & frozenset(among)
        assert among is None or sources == frozenset(among), f"{move.name}: not from {among}"
        values = {**change, "state": move.target}
        event = Event(move.event, now, message=message, details=details or {})
        return self._guarded(table, row_id, sources, values, event, returning, guards, now)

    def _update(
        self,
        table: sa.Table,
        row_id: int,
        states: Collection[Any],
        change: Change,
        event: Event | None = None,
    ) -> bool:
        """Change fields of the row, if it is in one of `states`; `event` if it was."""
        return self._guarded(table, row_id, states, change, event) is not None

    def _guarded(
        self,
        table: sa.Table,
        row_id: int,
        states: Collection[Any],
        values: Mapping[str, Any],
        event: Event | None,
        returning: tuple[str, ...] = (),
        guards: tuple[str, ...] = (),
        now: float | None = None,
    ) -> Any | None:
        update = st.guarded_update(table, states, values, returning, guards)
        params = st.guarded_params(row_id, values)
        if "lapsed" in guards:
            params[st.BOUND + "now"] = now
        with self._write() as conn:
            rows = update.execute(conn, params)
            if not rows:
                return None
            if event is not None:
                eventlog.record(conn, eventlog.about(conn, event, rows[0], table))
        return rows[0]
