"""Statements of the hot paths, compiled once and run on the SQLite driver's cursor itself.

Opening and closing a ticket take a dozen statements. Through SQLAlchemy's
execution layer each costs about 30 µs of Python on the test machine, many
times what SQLite needs to run it, and on SQLite those calls run on the
server's event loop (see LessorService.run). A `Prepared` statement is the
same Core construct, compiled once for the dialect; its parameters and
results go through the column types' own bind and result processors (public
TypeEngine API), so what is written and read is exactly what SQLAlchemy
would write and read. Other databases (PostgreSQL, a network away, where the
round trip dominates) run the construct through SQLAlchemy as usual.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

Processor = Callable[[Any], Any] | None


class Prepared:
    def __init__(self, statement: sa.Executable) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def execute(self, conn: sa.Connection, params: Mapping[str, Any] | None = None) -> list[Any]:
        """The rows (named tuples; empty for a statement without results)."""
        if conn.dialect.name != "sqlite":
            result = conn.execute(self.statement, dict(params or {}))
            return list(result) if result.returns_rows else []
        compiled = self._compiled.get(conn.dialect.name)
        if compiled is None:
            compiled = self._compiled[conn.dialect.name] = _Compiled(self.statement, conn.dialect)
        return compiled.run(conn, params or {})

    def insert_values(self, conn: sa.Connection, values: list[Any]) -> int:
        """SQLite only: run this INSERT with `values` already as the database stores them,
        in the statement's order; the rowid of its last row. For a caller that makes many
        values at once (the event log), where even the per-value work of `execute` shows."""
        compiled = self._compiled.get(conn.dialect.name)
        if compiled is None:
            compiled = self._compiled[conn.dialect.name] = _Compiled(self.statement, conn.dialect)
        cursor = _cursor(conn)
        cursor.execute(compiled.sql, values)
        return cursor.lastrowid  # type: ignore[no-any-return]


def insert(table: sa.Table, columns: list[str]) -> sa.Insert:
    """INSERT of exactly these columns (the others take their defaults), parameters by name."""
    return table.insert().values({c: sa.bindparam(c, type_=table.c[c].type) for c in columns})


class _Compiled:
    def __init__(self, statement: sa.Executable, dialect: sa.Dialect) -> None:
        compiled = cast(SQLCompiler, cast(ClauseElement, statement).compile(dialect=dialect))
        assert dialect.positional and compiled.positiontup is not None, "qmark dialects only"
        self.sql = compiled.string
        assert "POSTCOMPILE" not in self.sql, "expanding (IN list) binds are not supported"
        # A literal of the statement (`state = 'UP'`) is a bind with its value.
        names = compiled.positiontup
        binds = [compiled.binds[name] for name in names]
        self.params = [(name, b.effective_value) for name, b in zip(names, binds, strict=True)]
        self.bind_processors = _processors(b.type.bind_processor(dialect) for b in binds)
        columns = list(getattr(statement, "exported_columns", ()))
        self.row: Any = namedtuple("Row", [c.key for c in columns], rename=True)  # type: ignore[misc]
        self.result_processors = _processors(
            c.type.result_processor(dialect, None) for c in columns
        )

    def run(self, conn: sa.Connection, params: Mapping[str, Any]) -> list[Any]:
        values = [params.get(name, default) for name, default in self.params]
        for i, process in self.bind_processors:
            if values[i] is not None:
                values[i] = process(values[i])
        cursor = _cursor(conn)
        cursor.execute(self.sql, values)
        raw = cursor.fetchall() if cursor.description else []
        make, processors = self.row._make, self.result_processors
        if not processors:
            return [make(r) for r in raw]
        rows = []
        for r in raw:
            row = list(r)
            for i, process in processors:
                row[i] = process(row[i])
            rows.append(make(row))
        return rows


def _processors(processors: Iterable[Processor]) -> list[tuple[int, Callable[[Any], Any]]]:
    """The positions that have a processor, with it: most columns need none."""
    return [(i, p) for i, p in enumerate(processors) if p is not None]


_CURSOR = "lessor_cursor"


def _cursor(conn: sa.Connection) -> Any:
    """The driver connection's cursor, kept with the pooled connection (one per thread)."""
    dbapi = conn.connection
    cursor = dbapi.info.get(_CURSOR)
    if cursor is None:
        cursor = dbapi.info[_CURSOR] = dbapi.driver_connection.cursor()  # type: ignore[union-attr]
    return cursor
