"""The SQL store on SQLite and on a real PostgreSQL: guarded transitions hold under races."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from lessor.domain.events import EventFilter
from lessor.domain.events import EventKind as K
from lessor.domain.states import ResourceState as R
from lessor.domain.states import TicketState as T
from lessor.store.engine import make_engine
from lessor.store.migrate import alembic_config
from lessor.store.sql import SqlStore
from lessor.store.tables import metadata

NOW = 1_700_000_000.0
PATTERN = "{pool_name}_{id:08d}_{datetime}"


@pytest.fixture
def store(db_url: str) -> Iterator[SqlStore]:
    s = SqlStore.connect(db_url)
    yield s
    s.close()


def up(store: SqlStore, pool: str = "p") -> int:
    r = store.create_resource(pool, ["x"], PATTERN, NOW)
    assert store.mark_up(r.id, b"10.0.0.1\n", NOW)
    return r.id


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


def test_ids_count_from_one_and_names_follow_resallocs_pattern(store: SqlStore) -> None:
    a = store.create_resource("pool", ["x"], PATTERN, NOW)
    b = store.create_resource("pool", ["x"], PATTERN, NOW)
    assert (a.id, a.id_in_pool, b.id_in_pool) == (1, 0, 1)
    assert a.name.startswith("pool_00000001_2023")
    assert store.open_ticket(["x"], None, 0, NOW).id == 1


def test_id_in_pool_reuses_the_smallest_free_number(store: SqlStore) -> None:
    rids = [store.create_resource("p", ["x"], PATTERN, NOW).id for _ in range(3)]
    assert store.request_delete(rids[0], [R.STARTING], "test", NOW)
    assert store.start_delete(rids[0], NOW) and store.mark_ended(rids[0], NOW)
    assert store.create_resource("p", ["x"], PATTERN, NOW).id_in_pool == 0


def test_a_resource_goes_to_one_ticket_only(store: SqlStore) -> None:
    rid = up(store)
    t1 = store.open_ticket(["x"], None, 0, NOW)
    t2 = store.open_ticket(["x"], None, 0, NOW)
    assert store.assign(t1.id, rid, NOW)
    assert not store.assign(t2.id, rid, NOW)
    assert store.get_ticket(t2.id).state is T.OPEN  # type: ignore[union-attr]
    assigned = store.get_ticket(t1.id)
    assert assigned is not None and assigned.resource_id == rid


def test_concurrent_assignments_never_double_book(store: SqlStore) -> None:
    """Many threads race to give the same few resources to many tickets."""
    resources = [up(store) for _ in range(4)]
    tickets = [store.open_ticket(["x"], None, 0, NOW).id for _ in range(16)]
    won: list[tuple[int, int]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def worker(offset: int) -> None:
        barrier.wait()
        for i in range(16):
            tid = tickets[(i + offset) % 16]
            rid = resources[(i + offset) % 4]
            if store.assign(tid, rid, NOW):
                with lock:
                    won.append((tid, rid))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(r for _, r in won) == sorted(resources)  # each resource exactly once
    assert len({t for t, _ in won}) == len(won)  # and no ticket got two
    for tid, rid in won:
        r = store.get_resource(rid)
        assert r is not None and r.state is R.TAKEN and r.ticket_id == tid


def test_a_new_ticket_is_answered_as_it_was_stored(store: SqlStore) -> None:
    """open_ticket does not read its row back; what it returns must be that row all the same."""
    for ttl in (None, 30.0):
        t = store.open_ticket(["x", "y"], "sb", 3, NOW, ttl=ttl)
        assert store.get_ticket(t.id) == t


def test_a_ticket_being_opened_gets_only_a_resource_nobody_took(store: SqlStore) -> None:
    """The fast path's assignment, inside the transaction that opens the ticket: a spare
    someone took meanwhile leaves the new ticket waiting and the other holder untouched."""
    gone, free = up(store), up(store)
    other = store.open_ticket(["x"], None, 0, NOW)
    assert store.assign(other.id, gone, NOW)
    with store.atomic():
        t = store.open_ticket(["x"], None, 0, NOW)
        assert not store.assign_opened(t, gone, NOW)
        assert store.assign_opened(t, free, NOW)
    got = store.get_ticket(t.id)
    assert got is not None and got.state is T.ASSIGNED and got.resource_id == free
    held = store.get_resource(gone)
    assert held is not None and held.ticket_id == other.id
    taken = store.get_resource(free)
    assert taken is not None and taken.state is R.TAKEN and taken.ticket_id == t.id
    (assigned,) = store.list_events(EventFilter(ticket_id=t.id, kinds=(K.TICKET_ASSIGNED,)))
    assert assigned.resource_id == free and assigned.pool == "p"


def test_a_new_ticket_is_offered_its_own_sandbox_first_then_the_lowest_ids(
    store: SqlStore,
) -> None:
    unused = [up(store) for _ in range(3)]
    other, held, own = up(store), up(store), up(store)
    for rid, sandbox in ((other, "theirs"), (own, "mine")):
        ticket = store.open_ticket(["x"], sandbox, 0, NOW)
        assert store.assign(ticket.id, rid, NOW)
        store.close_ticket(ticket.id, NOW)
        assert store.reuse_at_once(store.get_resource(rid), ticket.id, sandbox, NOW)  # type: ignore[arg-type]
    assert store.hold_resource(held, "looked at", NOW)
    up(store, pool="elsewhere")

    def offered(sandbox: str | None, n: int) -> list[int]:
        return [r.id for r in store.spares(["p"], sandbox, n)]

    assert offered("mine", 3) == [own, *unused[:2]]
    assert offered("mine", 1) == [own]
    assert offered(None, 9) == unused  # neither another sandbox's nor a held one
    assert offered("new", 2) == unused[:2]


def test_closing_a_ticket_is_guarded_and_keeps_its_data(store: SqlStore) -> None:
    rid = up(store)
    t = store.open_ticket(["x"], None, 0, NOW)
    assert store.assign(t.id, rid, NOW)
    assert store.close_ticket(t.id, NOW)
    assert not store.close_ticket(t.id, NOW)
    closed = store.get_ticket(t.id)
    assert closed is not None and closed.state is T.CLOSED and closed.resource_id == rid


def test_recovery_after_a_crash_deletes_half_made_resources_and_keeps_assignments(
    store: SqlStore,
) -> None:
    starting = store.create_resource("p", ["x"], PATTERN, NOW).id
    taken = up(store)
    t = store.open_ticket(["x"], None, 0, NOW)
    assert store.assign(t.id, taken, NOW)
    deleting = up(store)
    assert store.request_delete(deleting, [R.UP], "test", NOW)
    assert store.start_delete(deleting, NOW)

    assert sorted(store.recover_after_crash(NOW + 1)) == sorted([starting, deleting])
    assert store.get_resource(starting).state is R.DELETE_REQUESTED  # type: ignore[union-attr]
    assert store.get_resource(deleting).state is R.DELETE_REQUESTED  # type: ignore[union-attr]
    kept = store.get_resource(taken)
    assert kept is not None and kept.state is R.TAKEN and kept.ticket_id == t.id


def test_a_failed_delete_stays_visible_until_it_succeeds(store: SqlStore) -> None:
    rid = up(store)
    assert store.request_delete(rid, [R.UP], "test", NOW)
    assert store.start_delete(rid, NOW)
    assert store.delete_failed(rid, "cmd_delete exited with 1", NOW + 10, NOW)
    r = store.get_resource(rid)
    assert r is not None and r.state is R.DELETE_REQUESTED
    assert r.delete_attempts == 1 and r.next_attempt_at == NOW + 10
    assert "exited with 1" in r.message
    assert rid in {x.id for x in store.live_resources()}


def test_livecheck_failures_kill_only_after_the_configured_attempts(store: SqlStore) -> None:
    rid = up(store)
    assert store.livecheck_failed(rid, 3, "down", NOW) is R.UP
    assert store.livecheck_failed(rid, 3, "down", NOW) is R.UP
    assert store.livecheck_passed(rid, NOW)  # a pass resets the count
    assert store.livecheck_failed(rid, 3, "down", NOW) is R.UP
    assert store.livecheck_failed(rid, 3, "down", NOW) is R.UP
    assert store.livecheck_failed(rid, 3, "down", NOW) is R.DELETE_REQUESTED


def test_data_is_binary_safe(store: SqlStore) -> None:
    r = store.create_resource("p", ["x"], PATTERN, NOW)
    blob = bytes(range(256))
    assert store.mark_up(r.id, blob, NOW)
    assert store.get_resource(r.id).data == blob  # type: ignore[union-attr]


def test_sqlite_runs_in_wal_mode(tmp_path: object) -> None:
    s = SqlStore.connect(f"sqlite:///{tmp_path}/w.sqlite")
    with s.engine.connect() as conn:
        assert conn.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
    s.close()
