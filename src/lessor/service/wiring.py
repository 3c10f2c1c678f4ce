"""Building a service on a real database: the one place that picks the store implementation."""

from __future__ import annotations

from lessor.domain.model import Pool
from lessor.service.core import LessorService
from lessor.store.sql import SqlStore


def connect_service(db_url: str, pools: tuple[Pool, ...]) -> LessorService:
    """Open the database (migrating it to the current schema) and wrap it in the use cases."""
    return LessorService(SqlStore.connect(db_url), pools)


def close_service(service: LessorService) -> None:
    close = getattr(service.store, "close", None)
    if close is not None:
        close()
