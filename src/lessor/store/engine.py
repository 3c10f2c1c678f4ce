"""Engines for SQLite (embedded default) and PostgreSQL, tuned for a guarded-update workload."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydantic_core
import sqlalchemy as sa
from sqlalchemy.engine import make_url

READONLY = "lessor_readonly"
"""Execution option: a read-only transaction, which on SQLite need not take the write lock."""


def make_engine(url: str) -> sa.Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, parsed.database)
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        return sa.create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
    raise ValueError(
        f"unsupported database URL {parsed.render_as_string()!r}: use sqlite:// or postgresql://"
    )


def _to_json(value: Any) -> str:
    return pydantic_core.to_json(value).decode()


def _sqlite_engine(url: str, database: str | None) -> sa.Engine:
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    # No pool: each thread keeps its own connections (store/transactions.py).
    engine = sa.create_engine(
        url,
        connect_args={"timeout": 30},
        poolclass=sa.pool.NullPool,
        # JSON columns (tags, counters) are encoded and decoded with every row of the hot
        # paths: pydantic's codec (a dependency already) takes a fraction of the json
        # module's time. Its text is compact UTF-8; what reads it back is the same.
        json_serializer=_to_json,
        json_deserializer=pydantic_core.from_json,
    )

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves (pysqlite's implicit one is DEFERRED).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        # A writer takes the lock at BEGIN, so it can never fail half-way with
        # SQLITE_BUSY when upgrading a read lock; readers stay concurrent.
        driver = conn.connection.driver_connection
        if driver.in_transaction:  # type: ignore[union-attr]
            return  # a store transaction begun on the driver (store/transactions.py)
        readonly = conn.get_execution_options().get(READONLY, False)
        # On the driver connection: SQLAlchemy's execution layer would cost more than BEGIN.
        driver.execute("BEGIN" if readonly else "BEGIN IMMEDIATE")  # type: ignore[union-attr]

    return engine
