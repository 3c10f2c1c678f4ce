"""The numbers a new resource takes, read from the live rows (see domain/naming.py)."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from lessor.domain.naming import free_counter_values, smallest_free
from lessor.store import statements as st
from lessor.store.tables import resources

_CREATE_LOCK = 0x1E5502
"""PostgreSQL advisory lock key held while a resource's numbers are chosen."""


def lock(conn: sa.Connection) -> None:
    """Servers sharing a PostgreSQL database pick free numbers one at a time (SQLite has
    one writer anyway); the unique index on live (pool, id_in_pool) is the last word."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CREATE_LOCK})


def free_id_in_pool(conn: sa.Connection, pool: str) -> int:
    q = sa.select(resources.c.id_in_pool).where(resources.c.pool == pool, st.LIVE)
    return smallest_free(set(conn.execute(q).scalars()))


def free_counters(conn: sa.Connection, names: Sequence[str]) -> dict[str, int]:
    if not names:
        return {}
    q = sa.select(resources.c.counters).where(st.LIVE)
    return free_counter_values((held or {} for held in conn.execute(q).scalars()), names)
