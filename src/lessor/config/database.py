"""The database URL of `lessor server`, checked before anything connects or migrates.

Each check returns what is wrong as one line (or None), so that the server
names the option or file it came from and stops before its banner, instead
of a traceback from deep inside SQLAlchemy, Alembic or psycopg.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

EXPECTED = "sqlite:///FILE or postgresql://[USER@]HOST[:PORT]/DBNAME"
_DRIVERS = {"sqlite", "sqlite+pysqlite", "postgresql", "postgresql+psycopg"}
"""What is installed with lessor: the standard library's sqlite3 and psycopg 3."""
_SQLITE_MAGIC = b"SQLite format 3\x00"

NOTE_EVERY = 5.0
"""Seconds between two "still waiting for PostgreSQL" lines."""


class DatabaseUnreachable(Exception):
    """PostgreSQL did not accept a connection in the time the server was given to wait."""


def safe_url(url: str) -> str:
    """The URL as it may be shown: without its password, otherwise as it was given."""
    return make_url(url).render_as_string(hide_password=True) if has_password(url) else url


def url_problem(url: str) -> str | None:
    """What makes `url` unusable as lessor's database, without connecting."""
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError:
        return f"{url!r} is not a database URL; expected {EXPECTED}"
    shown = safe_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgres":
        return f"{shown}: write postgresql://, not postgres://"
    if backend not in ("sqlite", "postgresql"):
        return f"{shown}: {backend} is not supported; expected {EXPECTED}"
    if parsed.drivername not in _DRIVERS:
        return (
            f"{shown}: the driver {parsed.get_driver_name()!r} is not installed with lessor; "
            f"use {backend}:// (psycopg 3 for PostgreSQL)"
        )
    if backend == "sqlite" and parsed.database in (None, "", ":memory:"):
        return f"{shown}: an in-memory database loses everything at a stop; give a file, sqlite:///FILE"
    return None


def has_password(url: str) -> bool:
    try:
        return make_url(url).password is not None
    except sa.exc.ArgumentError:
        return False


def sqlite_file(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    return Path(parsed.database)


def sqlite_problem(path: Path) -> str | None:
    """What keeps SQLite from using the file at `path`; its directory must exist already.

    lessor creates no directory for a database it is given: a typo in a path
    would otherwise become a new, empty database somewhere unexpected.
    """
    parent = path.parent
    if not parent.is_dir():
        return (
            f"the directory {parent} does not exist; create it, or give a database in an "
            "existing directory (lessor creates no directory for a given database)"
        )
    # SQLite writes its journal and WAL files next to the database.
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"the directory {parent} is not writable by this user (SQLite writes files there)"
    if not path.exists():
        return None
    if not path.is_file():
        return f"{path} is not a file"
    if not os.access(path, os.R_OK | os.W_OK):
        return f"{path} is not readable and writable by this user"
    try:
        with path.open("rb") as f:
            head = f.read(len(_SQLITE_MAGIC))
    except OSError as e:
        return f"{path}: cannot read: {e.strerror}"
    if head and head != _SQLITE_MAGIC:
        return f"{path} is not an SQLite database"
    return None


def wait_for_database(url: str, wait: float, say: Callable[[str], None]) -> None:
    """Return once PostgreSQL accepts a connection; DatabaseUnreachable after `wait` seconds.

    A server and its database often start together (a reboot, a compose
    file); the server waits for it, saying so every few seconds, but not
    forever: a wrong host is a clear failure, not a silent hang.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return
    shown = safe_url(url)
    deadline = time.monotonic() + wait
    next_note = time.monotonic()
    while True:
        left = deadline - time.monotonic()
        error = _connect_error(parsed, timeout=max(2, min(10, round(left))))
        if error is None:
            return
        if time.monotonic() >= deadline:
            waited = f" within {wait:g} s" if wait else ""
            raise DatabaseUnreachable(
                f"PostgreSQL at {shown} did not answer{waited}: {error}; check that it runs "
                "and accepts connections, or wait longer with --db-wait SECONDS"
            )
        if time.monotonic() >= next_note:
            say(f"waiting for PostgreSQL at {shown} ({error}); giving up in {left:.0f} s")
            next_note = time.monotonic() + NOTE_EVERY
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))


def _connect_error(url: URL, timeout: int) -> str | None:
    """Why a connection failed, in one line; None when it succeeded."""
    engine = sa.create_engine(
        url.set(drivername="postgresql+psycopg"),
        poolclass=sa.pool.NullPool,
        connect_args={"connect_timeout": timeout},
    )
    try:
        with engine.connect():
            return None
    except sa.exc.DBAPIError as e:
        first = (str(e.orig).strip().splitlines() or [type(e.orig).__name__])[0]
        return first.removeprefix("connection failed: ")
    finally:
        engine.dispose()
