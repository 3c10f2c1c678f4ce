"""Reading resalloc databases of older versions and in awkward states."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from lessor.domain.states import ResourceState as R
from lessor.domain.states import TicketState as T
from lessor.importer.resalloc import NotImportable, read_resalloc

# resalloc 1.x: no sandboxes, no ids within pool, no named counters.
OLD_SCHEMA = """
CREATE TABLE tickets (id INTEGER PRIMARY KEY, resource_id INTEGER, state VARCHAR, tid VARCHAR);
CREATE TABLE resources (id INTEGER PRIMARY KEY, name VARCHAR, user VARCHAR, data BLOB,
    pool VARCHAR NOT NULL, state VARCHAR NOT NULL, check_last_time FLOAT,
    check_failed_count INTEGER, ticket_id INTEGER UNIQUE);
CREATE TABLE resource_tags (id VARCHAR, resource_id INTEGER, PRIMARY KEY (id, resource_id));
CREATE TABLE ticket_tags (id VARCHAR, ticket_id INTEGER, PRIMARY KEY (id, ticket_id));
"""


def old_database(tmp_path: Path, *statements: str) -> str:
    url = f"sqlite:///{tmp_path / 'resalloc.sqlite'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for sql in [*OLD_SCHEMA.split(";"), *statements]:
            if sql.strip():
                conn.exec_driver_sql(sql)
    engine.dispose()
    return url


def test_an_old_resalloc_database_imports_and_numbers_its_resources(tmp_path: Path) -> None:
    url = old_database(
        tmp_path,
        "INSERT INTO resources VALUES (3, 'a_3', NULL, x'31', 'a', 'UP', 5.0, 0, NULL)",
        "INSERT INTO resources VALUES (4, 'a_4', NULL, x'32', 'a', 'UP', 5.0, 1, 9)",
        "INSERT INTO tickets VALUES (9, 4, 'OPEN', NULL)",
        "INSERT INTO resource_tags VALUES ('t', 3), ('t', 4)",
        "INSERT INTO ticket_tags VALUES ('t', 9)",
    )
    taken = read_resalloc(url, now=100.0)
    free, held = taken.resources
    assert (free.state, free.id_in_pool, free.data, free.tags) == (R.UP, 0, b"1", ("t",))
    assert (held.state, held.id_in_pool, held.ticket_id, held.livecheck_failures) == (
        R.TAKEN,
        1,
        9,
        1,
    )
    (ticket,) = taken.tickets
    assert (ticket.id, ticket.state, ticket.resource_id, ticket.tags) == (9, T.ASSIGNED, 4, ("t",))


def test_a_ticket_whose_resource_is_gone_fails_and_a_closed_one_still_held_is_recycled(
    tmp_path: Path,
) -> None:
    url = old_database(
        tmp_path,
        "INSERT INTO resources VALUES (1, 'a_1', NULL, x'31', 'a', 'ENDED', 5.0, 0, NULL)",
        "INSERT INTO resources VALUES (2, 'a_2', NULL, x'32', 'a', 'UP', 5.0, 0, 6)",
        "INSERT INTO tickets VALUES (5, 1, 'OPEN', NULL)",
        "INSERT INTO tickets VALUES (6, 2, 'CLOSED', NULL)",
    )
    taken = read_resalloc(url, now=100.0)
    by_id = {t.id: t for t in taken.tickets}
    assert by_id[5].state is T.FAILED and "lost" in by_id[5].message
    assert by_id[6].state is T.CLOSED  # taken over so that lessor releases its resource
    resources = {r.id: r for r in taken.resources}
    assert resources[2].state is R.TAKEN and resources[2].ticket_id == 6
    assert resources[1].state is R.ENDED and resources[1].data == b"1"  # its ticket's data
    assert any("ticket 5" in note for note in taken.notes)


def test_not_a_resalloc_database_is_a_clear_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    sa.create_engine(url).connect().close()
    with pytest.raises(NotImportable) as e:
        read_resalloc(url)
    assert "not a resalloc database" in str(e.value) and "resources" in str(e.value)
