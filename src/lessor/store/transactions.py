"""Transactions of the SQL store: reads, writes, and `atomic()` blocks that join them.

Every store call is a transaction of its own unless it runs inside
`atomic()`, which makes all the calls of one use case a single transaction.
Events recorded during a write are inserted just before it commits and
announced to `on_events` once it has.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

import sqlalchemy as sa

from lessor.domain.events import Event
from lessor.store import eventlog
from lessor.store.checkpoint import Checkpointer
from lessor.store.engine import READONLY

EventListener = Callable[[list[Event]], None]


class Transactions:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.sqlite = engine.dialect.name == "sqlite"
        # SQLite has one writer at a time, and a writer that finds the lock
        # taken sleeps in growing steps (busy_timeout): milliseconds lost on
        # every collision between the API and the reconciler. Queueing our
        # own writers on a lock hands over at once; other processes still
        # meet busy_timeout. PostgreSQL writers need no such queue.
        self._writers: AbstractContextManager[object] = (
            threading.RLock() if self.sqlite else nullcontext()
        )
        self.on_events: EventListener | None = None
        """Called with the events of each write transaction once it has committed."""
        self._checkpointer: Checkpointer | None = None
        database = engine.url.database
        if self.sqlite and database and database != ":memory:":
            self._checkpointer = Checkpointer(database)
        self._local = threading.local()
        """Per thread: `atomic`, the transaction of the atomic() block running there;
        `kept`, the thread's own SQLite connections (see _connect)."""

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """Every store call inside, on this thread, is one transaction: all of it or none.

        A use case that reads, decides and moves several rows (open a ticket
        and hand it a spare; close one and release its resource) pays for one
        BEGIN and one COMMIT instead of one per call, and no one sees it
        half done. Guarded updates keep their meaning: each still changes
        nothing when its row was moved first.
        """
        if getattr(self._local, "atomic", None) is not None:
            yield  # already inside one
            return
        with self.write() as conn:
            self._local.atomic = conn
            try:
                yield
            finally:
                self._local.atomic = None

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        outer: sa.Connection | None = getattr(self._local, "atomic", None)
        if outer is not None:
            yield outer
            return
        if not self.sqlite:
            with self._connect(readonly=True) as conn, conn.begin():
                yield conn
            return
        # SQLite runs a statement outside BEGIN in a read transaction of its
        # own, so a read of one statement (most are) needs no BEGIN/COMMIT;
        # a statement run through SQLAlchemy begins one, ended here.
        with self._connect(readonly=True) as conn:
            try:
                yield conn
            finally:
                if conn.in_transaction():
                    conn.rollback()

    @contextmanager
    def write(self, *, savepoint: bool = False) -> Iterator[sa.Connection]:
        """A write transaction, or a part of the `atomic()` one around it.

        `savepoint`: inside `atomic()`, an exception undoes only this part
        (and forgets the events it recorded) instead of leaving it half done.
        """
        outer: sa.Connection | None = getattr(self._local, "atomic", None)
        if outer is not None:
            if not savepoint:
                yield outer
                return
            pending: list[Event] = outer.info.setdefault(eventlog.PENDING, [])
            mark = len(pending)
            try:
                with self._savepoint(outer):
                    yield outer
            except BaseException:
                del pending[mark:]
                raise
            return
        with self._writers, self._connect(readonly=False) as conn, self._begin(conn):
            conn.info.pop(eventlog.PENDING, None)  # left by a rolled-back transaction
            yield conn
            recorded = eventlog.flush(conn)
        if recorded and self.on_events is not None:
            self.on_events(recorded)

    @contextmanager
    def _begin(self, conn: sa.Connection) -> Iterator[None]:
        """The write transaction itself. On SQLite, BEGIN and COMMIT go to the driver
        connection (SQLAlchemy's Transaction costs more than most of our transactions); a
        statement run through SQLAlchemy inside joins it (see engine.py) and SQLAlchemy's
        commit then commits it all."""
        if not self.sqlite:
            with conn.begin():
                yield
            return
        driver = conn.connection.driver_connection
        assert driver is not None
        driver.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if conn.in_transaction():
                conn.rollback()
            if driver.in_transaction:
                driver.rollback()
            raise
        if conn.in_transaction():
            conn.commit()
        else:
            driver.commit()

    @contextmanager
    def _savepoint(self, conn: sa.Connection) -> Iterator[None]:
        """SAVEPOINT on SQLite's driver connection itself (SQLAlchemy's costs ten times
        more, and the fast path takes one per assignment); elsewhere SQLAlchemy's."""
        if not self.sqlite:
            with conn.begin_nested():
                yield
            return
        driver = conn.connection.driver_connection
        assert driver is not None
        driver.execute("SAVEPOINT lessor_part")
        try:
            yield
        except BaseException:
            driver.execute("ROLLBACK TO lessor_part")
            raise
        finally:
            driver.execute("RELEASE lessor_part")

    def _connect(self, *, readonly: bool) -> AbstractContextManager[sa.Connection]:
        """A connection for one transaction.

        On SQLite each thread keeps its own two (one reads, one writes): a
        checkout from the pool and its reset cost more than most of our
        transactions. Elsewhere connections come from the pool and go back.
        """
        if not self.sqlite:
            pooled = self.engine.connect()
            return pooled.execution_options(**{READONLY: True}) if readonly else pooled
        kept: dict[bool, sa.Connection] = self._local.__dict__.setdefault("kept", {})
        conn = kept.get(readonly)
        if conn is None or conn.closed or conn.invalidated:
            conn = self.engine.connect().execution_options(**{READONLY: readonly})
            if self._checkpointer is not None:
                driver = conn.connection.driver_connection
                assert driver is not None
                driver.execute("PRAGMA wal_autocheckpoint=0")  # the checkpointer's job
            kept[readonly] = conn
        return nullcontext(conn)

    def close(self) -> None:
        for conn in getattr(self._local, "kept", {}).values():
            conn.close()
        if self._checkpointer is not None:
            self._checkpointer.stop()
        self.engine.dispose()
