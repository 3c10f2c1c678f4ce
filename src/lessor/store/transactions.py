"""Transactions of the SQL store: reads, writes, and `atomic()` blocks that join them.

Every store call is a transaction of its own unless it runs inside
`atomic()`, which makes all the calls of one use case a single transaction,
or inside a `part()` of a group, which makes the use cases of several
requests one transaction (group commit, SQLite only). Events recorded during
a write are inserted just before it commits and announced to `on_events`
once it has.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import sqlalchemy as sa

from lessor.domain.events import Event
from lessor.store import eventlog
from lessor.store.checkpoint import Checkpointer
from lessor.store.engine import READONLY

EventListener = Callable[[list[Event]], None]


class Group:
    """One write transaction shared by several use cases on one thread (see `part`)."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn
        self.first = True
        """Whether the part running now opened the group (and must see it committed)."""
        self.on_commit: list[Callable[[BaseException | None], None]] = []
        """Called once the group has committed, with the error if it could not."""


class Transactions:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.sqlite = engine.dialect.name == "sqlite"
        self.inline = self.sqlite
        """Calls take microseconds and touch only a local file: the event loop may make them."""
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
            self._checkpointer = Checkpointer(database, self._writers)
        self._local = threading.local()
        """Per thread: `atomic`, the transaction of the atomic() block running there;
        `group`, the open group transaction (see part); `kept`, the thread's own SQLite
        connections (see _connect)."""

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
            with self._savepoint(outer):
                yield outer
            return
        self.commit_group()  # not a part of it: the group goes first, whole
        with self._writers, self._connect(readonly=False) as conn, self._begin(conn):
            conn.info.pop(eventlog.PENDING, None)  # left by a rolled-back transaction
            yield conn
            recorded = eventlog.flush(conn)
        self._announce(recorded)

    @contextmanager
    def part(self) -> Iterator[Group]:
        """This block as one part of the thread's group transaction (SQLite only).

        On SQLite a commit costs as much as a use case: BEGIN, the WAL frames
        of every page touched, COMMIT. The requests a server answers in one
        turn of its event loop touch the same pages (the same leaves of the
        tickets, resources and events tables), so their use cases share one
        transaction: the first part opens the group, `commit_group()`
        commits it, and each part's caller answers only after that (see
        LessorService.run_grouped). Any other write on this thread commits
        the group first.

        A part that raises before it changed a row (a request refused, a
        ticket not found) leaves the group as it was. One that raises after
        takes the whole group down with it, rolled back, every part told:
        a savepoint per part would cost more than the commits saved, and
        such a failure is a fault of the database or of ours, not of a
        request.
        """
        assert self.sqlite, "group commit is for SQLite's single writer"
        assert getattr(self._local, "atomic", None) is None, "a part is a use case of its own"
        group: Group | None = getattr(self._local, "group", None)
        if group is None:
            group = self._open_group()
        else:
            group.first = False
        pending: list[Event] = group.conn.info.setdefault(eventlog.PENDING, [])
        mark, changes = len(pending), _driver(group.conn).total_changes
        self._local.atomic = group.conn
        try:
            yield group
        except BaseException as e:
            del pending[mark:]
            if _driver(group.conn).total_changes != changes:
                self._end_group(group, e)
            raise
        finally:
            self._local.atomic = None

    def _open_group(self) -> Group:
        self._writers.__enter__()
        try:
            with self._connect(readonly=False) as conn:
                _driver(conn).execute("BEGIN IMMEDIATE")
        except BaseException:
            self._writers.__exit__(None, None, None)
            raise
        conn.info.pop(eventlog.PENDING, None)  # left by a rolled-back transaction
        group = self._local.group = Group(conn)
        return group

    def commit_group(self) -> None:
        """Commit this thread's group transaction, if one is open, and tell its parts."""
        group: Group | None = getattr(self._local, "group", None)
        if group is not None:
            self._end_group(group, None)

    def _end_group(self, group: Group, failed: BaseException | None) -> None:
        """Commit the group, or roll it back when one of its parts `failed`; tell its parts."""
        self._local.group = None
        error = failed
        recorded: list[Event] = []
        try:
            if failed is None:
                recorded = eventlog.flush(group.conn)
                self._commit(group.conn)
        except Exception as e:
            error = e
        finally:
            if error is not None or _driver(group.conn).in_transaction:
                self._rollback(group.conn)
            self._writers.__exit__(None, None, None)
        for told in group.on_commit:
            told(error)
        self._announce(recorded)

    def _announce(self, recorded: list[Event]) -> None:
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
        _driver(conn).execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._rollback(conn)
            raise
        self._commit(conn)

    @staticmethod
    def _commit(conn: sa.Connection) -> None:
        """COMMIT of a transaction begun on the driver (see _begin)."""
        if conn.in_transaction():
            conn.commit()
        else:
            _driver(conn).commit()

    @staticmethod
    def _rollback(conn: sa.Connection) -> None:
        if conn.in_transaction():
            conn.rollback()
        driver = _driver(conn)
        if driver.in_transaction:
            driver.rollback()

    @contextmanager
    def _savepoint(self, conn: sa.Connection) -> Iterator[None]:
        """An exception undoes the block's writes and forgets its events. On SQLite the
        SAVEPOINT goes to the driver connection itself (SQLAlchemy's costs ten times more);
        elsewhere it is SQLAlchemy's."""
        pending: list[Event] = conn.info.setdefault(eventlog.PENDING, [])
        mark = len(pending)
        try:
            if not self.sqlite:
                with conn.begin_nested():
                    yield
                return
            driver = _driver(conn)
            driver.execute("SAVEPOINT lessor_part")
            try:
                yield
            except BaseException:
                driver.execute("ROLLBACK TO lessor_part")
                raise
            finally:
                driver.execute("RELEASE lessor_part")
        except BaseException:
            del pending[mark:]
            raise

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
                self._checkpointer.adopt(_driver(conn))
            kept[readonly] = conn
        return nullcontext(conn)

    def close(self) -> None:
        self.commit_group()  # its parts' requests wait for it
        for conn in getattr(self._local, "kept", {}).values():
            conn.close()
        if self._checkpointer is not None:
            self._checkpointer.stop()
        self.engine.dispose()


def _driver(conn: sa.Connection) -> Any:
    """The sqlite3 connection under `conn`, for what SQLAlchemy's layers make dear."""
    driver = conn.connection.driver_connection
    assert driver is not None
    return driver
