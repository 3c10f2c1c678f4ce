"""Leadership: the one server whose planner acts, and the epoch that fences the others.

On PostgreSQL the leader is whoever holds a transaction-level advisory lock on
a connection of its own, kept open in a transaction that it touches every
second. The session is set to end when it idles in that transaction longer
than `IDLE_LIMIT`: a leader that dies, or is paused by SIGSTOP, loses the lock
that long after its last heartbeat, and another server takes it (PostgreSQL
is the arbiter; no clock of ours decides). A leader that wakes from a pause
cannot act on what it had: every plan is applied in a transaction that first
checks the leadership epoch (SqlStore.fenced), and the new leader raised it
(SqlStore.take_lead) before its first pass, behind a row lock that an old
transaction holds until it ends.

SQLite and memory stores have one server by construction: it always leads.
"""

from __future__ import annotations

import contextlib
import logging

import sqlalchemy as sa

log = logging.getLogger(__name__)

LOCK_KEY = 0x6C6573736F72
"""The advisory lock of lessor's planner ("lessor" in ASCII), one per database."""

IDLE_LIMIT = 5
"""Seconds after a leader's last heartbeat at which PostgreSQL ends its session."""

HEARTBEAT = 1.0
"""Seconds between a leader's heartbeats, and between a candidate's attempts."""


class SoleLeadership:
    """The only server of its database (SQLite, memory) always leads."""

    sole = True
    heartbeat = HEARTBEAT

    def keep(self) -> bool:
        return True

    def close(self) -> None:
        pass


class PgLeadership:
    """The advisory-lock leadership of one server on a PostgreSQL database."""

    sole = False
    heartbeat = HEARTBEAT

    def __init__(self, url: sa.URL) -> None:
        self._engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        self._conn: sa.Connection | None = None
        self._leads = False

    def keep(self) -> bool:
        """Whether this server leads now: renews the lead it holds (a heartbeat), or takes
        it if it is free. Blocks for one round trip; never raises."""
        try:
            if self._conn is None:
                self._conn = self._engine.connect()
            if self._leads:
                self._conn.execute(sa.text("SELECT 1"))
                return True
            self._conn.execute(
                sa.text(f"SET idle_in_transaction_session_timeout = '{IDLE_LIMIT}s'")
            )
            got = self._conn.execute(
                sa.text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": LOCK_KEY}
            ).scalar()
            if got:
                self._leads = True
                return True
            self._conn.rollback()
            return False
        except sa.exc.SQLAlchemyError as e:
            log.warning("leadership: %s", (str(e).splitlines() or [""])[0])
            self._drop()
            return False

    def _drop(self) -> None:
        self._leads = False
        if self._conn is not None:
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                self._conn.close()
            self._conn = None

    def close(self) -> None:
        """Give the lead up at once (a clean stop hands over without waiting)."""
        self._drop()
        self._engine.dispose()
