"""The SQL store's pools: each as last loaded from pools.yaml, and its drain."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from lessor.domain.events import Event, spares_changed
from lessor.domain.kinds import EventKind as K
from lessor.domain.model import Pool
from lessor.store import eventlog
from lessor.store import statements as st
from lessor.store.base import SqlBase
from lessor.store.pooldefs import pool_definition, pool_from_definition
from lessor.store.tables import pool_states


class PoolRows(SqlBase):
    def save_pool_definitions(self, pools: Sequence[Pool], now: float) -> None:
        """Remember each configured pool as loaded; its drain state is left as it is."""
        with self._write() as conn:
            for p in pools:
                definition = pool_definition(p)
                _upsert(conn, {"name": p.name, "definition": definition, "updated_at": now})

    def stored_pools(self) -> list[Pool]:
        with self._read() as conn:
            rows = st.POOL_STATES.execute(conn)
        pools = []
        for row in rows:
            pool = pool_from_definition(row.name, row.definition or {})
            pools.append(pool.evolve(**{name: getattr(row, name) for name in STATE}))
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

    def start_failed(self, pool: str, message: str, now: float) -> None:
        with self._write() as conn:
            _upsert(conn, {"name": pool, "updated_at": now})
            conn.execute(
                pool_states.update()
                .where(pool_states.c.name == pool)
                .values(
                    start_failures=pool_states.c.start_failures + 1,
                    last_failure=message,
                    failed_at=now,
                )
            )

    def set_spares_target(
        self, pool: str, spares: int | None, reason: str, now: float, wait: float | None = None
    ) -> bool:
        """The spares sized for the pool; an event when their number changes (True then)."""
        with self._write() as conn:
            was = conn.execute(
                sa.select(pool_states.c.spares_target).where(pool_states.c.name == pool)
            ).scalar_one_or_none()
            state = {"spares_target": spares, "spares_reason": reason, "spares_wait": wait}
            _upsert(conn, {"name": pool, "updated_at": now, **state})
            if was == spares:
                return False
            eventlog.record(conn, spares_changed(pool, was, spares, reason, now))
        return True

    def start_succeeded(self, pool: str) -> None:
        with self._write() as conn:
            conn.execute(
                pool_states.update()
                .where(pool_states.c.name == pool, pool_states.c.start_failures > 0)
                .values(start_failures=0)
            )


STATE = (
    "drained",
    "drain_reason",
    "last_start",
    "start_failures",
    "last_failure",
    "failed_at",
    "spares_target",
    "spares_reason",
    "spares_wait",
)
"""The columns of a pool's state (the Pool fields of metadata STATE but `removed`)."""


def note_start(conn: sa.Connection, pool: str, now: float) -> None:
    """The pool's last start is now (start_delay counts from it): with its cmd_new's row."""
    _upsert(conn, {"name": pool, "updated_at": now, "last_start": now})


def _upsert(conn: sa.Connection, values: dict[str, Any]) -> None:
    """Insert or update a row of pool_states by name, atomically on both databases."""
    insert = sqlite_insert if conn.dialect.name == "sqlite" else postgresql_insert
    stmt = insert(pool_states).values(**values)
    update = {k: v for k, v in values.items() if k != "name"}
    conn.execute(stmt.on_conflict_do_update(index_elements=["name"], set_=update))
