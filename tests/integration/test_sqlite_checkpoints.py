"""SQLite: the WAL is copied back into the database by the store's own thread.

The store's connections leave checkpoints (the only fsyncs) to that thread,
so that no request waits for the disk; the database must still take in
what was written, and no more than a few pages may stay behind for long.
"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import wait_until

from lessor.store.sql import SqlStore

NOW = 1_700_000_000.0


def test_what_is_written_reaches_the_database_file(tmp_path: Path) -> None:
    db = tmp_path / "lessor.sqlite"
    store = SqlStore.connect(f"sqlite:///{db}")
    try:
        before = db.stat().st_size
        for _ in range(300):  # more pages than the checkpointer can leave unnoticed
            store.open_ticket(["x" * 200], "a sandbox", 0, NOW)
        wait_until(
            lambda: db.stat().st_size > before + 16 * 1024,
            timeout=10,
            message="the checkpoint thread to copy the WAL into the database",
        )
        assert len(store.list_tickets()) == 300
    finally:
        store.close()
    reopened = SqlStore.connect(f"sqlite:///{db}")
    assert len(reopened.list_tickets()) == 300
    reopened.close()
