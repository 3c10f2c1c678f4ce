"""The SQL schema on SQLite and on a real PostgreSQL: the migrations build it, keep rows."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from lessor.domain.events import EventFilter
from lessor.domain.kinds import EventKind as K
from lessor.store.engine import make_engine
from lessor.store.migrate import alembic_config
from lessor.store.sql import SqlStore
from lessor.store.tables import metadata

NOW = 1_700_000_000.0


@pytest.fixture
def store(db_url: str) -> Iterator[SqlStore]:
    s = SqlStore.connect(db_url)
    yield s
    s.close()


def test_migrations_build_exactly_the_declared_schema(store: SqlStore) -> None:
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_migrations_are_idempotent_at_restart(db_url: str) -> None:
    SqlStore.connect(db_url).close()
    again = SqlStore.connect(db_url)
    assert again.list_tickets() == []
    again.close()


def test_a_database_of_the_first_schema_is_upgraded_at_start_with_its_rows(
    db_url: str,
) -> None:
    engine = make_engine(db_url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0001")
        conn.execute(
            sa.text(
                "INSERT INTO tickets (tags, state, priority, created_at, message) "
                "VALUES ('[\"x\"]', 'OPEN', 0, 1, '')"
            )
        )
        conn.execute(
            sa.text("INSERT INTO events (at, kind, ticket_id) VALUES (1, 'ticket.opened', 1)")
        )
    engine.dispose()
    store = SqlStore.connect(db_url)  # as `lessor server` does
    try:
        with store.engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), metadata) == []
        assert [t.tags for t in store.list_tickets()] == [("x",)]
        assert [e.kind for e in store.list_events(EventFilter(ticket_id=1))] == [K.TICKET_OPENED]
    finally:
        store.close()


def test_sqlite_runs_in_wal_mode(tmp_path: object) -> None:
    s = SqlStore.connect(f"sqlite:///{tmp_path}/w.sqlite")
    with s.engine.connect() as conn:
        assert conn.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
    s.close()
