"""SQLite's WAL checkpoints, in a thread of their own.

In WAL mode with `synchronous=NORMAL` a commit only appends to the WAL; the
fsyncs happen when the WAL is copied back into the database, a checkpoint,
which SQLite runs inside whichever commit crosses 1000 pages. On the server
those commits run on the event loop (see LessorService.run), so every few
hundred tickets one request would wait for the disk. Here the store's own
connections leave checkpoints to this thread, which runs one every
`period` seconds.

A checkpoint that never blocks a writer (PASSIVE) never catches up with a
busy server: the WAL starts over from its beginning only when a write
finds every frame in it copied, and there are always frames committed
while the checkpoint ran. The WAL then grows by tens of megabytes a
second, and every commit pays the kernel for new blocks of the file. So
each round is two checkpoints: a PASSIVE one of what is there, then, with
the process's writers held off (`writers`, the store's lock), one of the
few frames committed meanwhile, which costs a fraction of a millisecond.
The next write then starts the WAL over, in blocks the kernel already
holds. `SIZE_LIMIT` trims a WAL left large by a burst.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from contextlib import AbstractContextManager

log = logging.getLogger(__name__)

SIZE_LIMIT = 16 * 1024 * 1024
"""Bytes of WAL kept when it starts over (SQLite's journal_size_limit); more is given back."""


class Checkpointer:
    def __init__(
        self, database: str, writers: AbstractContextManager[object], period: float = 0.2
    ) -> None:
        self.database = database
        self.writers = writers
        self.period = period
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        conn = sqlite3.connect(self.database, timeout=30, check_same_thread=False)
        try:
            while not self._stop.wait(self.period):
                try:
                    self.checkpoint(conn)
                except sqlite3.Error as e:  # the next round tries again
                    log.warning("checkpoint of %s failed: %s", self.database, e)
            self.checkpoint(conn)  # a last one at stop
        finally:
            conn.close()

    @staticmethod
    def adopt(driver: sqlite3.Connection) -> None:
        """A connection of the store: its commits leave checkpoints to this thread, and the
        WAL it starts over is trimmed to SIZE_LIMIT."""
        driver.execute("PRAGMA wal_autocheckpoint=0")
        driver.execute(f"PRAGMA journal_size_limit={SIZE_LIMIT}")

    def checkpoint(self, conn: sqlite3.Connection) -> None:
        _, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if copied < frames or frames < 0:  # -1: not in WAL mode (yet)
            return  # a reader holds an older snapshot: the next round
        with self.writers:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
