"""The contract suite: one set of tests for every Store, run on memory, SQLite and PostgreSQL.

The memory store is the SQL store's twin only as long as they pass the same
tests; every test here that uses `store` runs on all three.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lessor.server import MEMORY, open_store
from lessor.store.interface import Store, Transactions


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "memory":
        return MEMORY
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'lessor.sqlite'}"
    return str(request.getfixturevalue("pg_cluster").new_database())


@pytest.fixture
def opened(any_url: str) -> Iterator[tuple[Store, Transactions]]:
    store, transactions = open_store(any_url)
    yield store, transactions
    transactions.close()
    close = getattr(store, "close", None)
    if close is not None:
        close()


@pytest.fixture
def store(opened: tuple[Store, Transactions]) -> Store:
    return opened[0]


@pytest.fixture
def tx(opened: tuple[Store, Transactions]) -> Transactions:
    """The store's unit of work."""
    return opened[1]
