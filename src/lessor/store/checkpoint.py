"""SQLite's WAL checkpoints, in a thread of their own.

In WAL mode with `synchronous=NORMAL` a commit only appends to the WAL; the
fsyncs happen when the WAL is copied back into the database, a checkpoint,
which SQLite runs inside whichever commit crosses 1000 pages. On the server
those commits run on the event loop (see LessorService.run), so every few
hundred tickets one request would wait for the disk. Here the store's own
connections leave checkpoints to this thread, which runs a PASSIVE one (it
never blocks a writer) every `period` seconds.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

log = logging.getLogger(__name__)


class Checkpointer:
    def __init__(self, database: str, period: float = 0.2) -> None:
        self.database = database
        self.period = period
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        conn = sqlite3.connect(self.database, timeout=30, check_same_thread=False)
        try:
            while not self._stop.wait(self.period):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as e:  # the next round tries again
                    log.warning("checkpoint of %s failed: %s", self.database, e)
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()  # a last one at stop
        finally:
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
