"""SQLite: the WAL is copied back into the database by the store's own thread.

The store's connections leave checkpoints (the only fsyncs) to that thread,
so that no request waits for the disk; the database must still take in
what was written, and no more than a few pages may stay behind for long.
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.conftest import wait_until

from lessor.store.checkpoint import SIZE_LIMIT
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


def test_the_wal_starts_over_while_writes_never_pause(tmp_path: Path) -> None:
    """A busy server commits while every checkpoint runs; its WAL must still start over
    at its beginning now and then, not grow by megabytes a second for as long as the
    load lasts (a full disk, and every commit paying the kernel for new blocks)."""
    db = tmp_path / "lessor.sqlite"
    wal = tmp_path / "lessor.sqlite-wal"
    store = SqlStore.connect(f"sqlite:///{db}")
    try:
        salts = set()  # SQLite draws new salts for the WAL's header at each start-over
        deadline = time.monotonic() + 30
        while len(salts) < 4 and time.monotonic() < deadline:
            store.open_ticket(["x" * 200], "a sandbox", 0, NOW)
            with wal.open("rb") as f:
                salts.add(f.read(24)[16:24])
        size = wal.stat().st_size
    finally:
        store.close()
    assert len(salts) >= 4, "the WAL did not start over within 30 s of writes"
    # cut back to SIZE_LIMIT when it starts over, it grows by at most a round's writes
    assert size < 2 * SIZE_LIMIT
