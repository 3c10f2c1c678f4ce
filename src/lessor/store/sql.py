"""SqlStore: the Store on SQLite or PostgreSQL, every transition a guarded UPDATE.

Its operations are in the modules named after what they keep (tickets.py,
resources.py, pools.py, eventrows.py, adoption.py); this joins them and
opens the database.
"""

from __future__ import annotations

import sqlalchemy as sa

from lessor.store import migrate
from lessor.store.adoption import Adoption
from lessor.store.engine import make_engine
from lessor.store.eventrows import EventRows
from lessor.store.pools import PoolRows
from lessor.store.resources import ResourceRows
from lessor.store.tables import meta
from lessor.store.tickets import TicketRows
from lessor.store.transactions import Transactions


class SqlStore(TicketRows, ResourceRows, PoolRows, EventRows, Adoption):
    def __init__(self, engine: sa.Engine) -> None:
        super().__init__(Transactions(engine))
        self.engine = engine

    @property
    def transactions(self) -> Transactions:
        """Its unit of work, for the executor (the use cases never see it)."""
        return self._tx

    @classmethod
    def connect(cls, url: str, *, migrate_schema: bool = True) -> SqlStore:
        engine = make_engine(url)
        if migrate_schema:
            migrate.upgrade(engine)
        return cls(engine)

    def ping(self) -> None:
        with self._read() as conn:
            conn.execute(sa.text("SELECT 1"))

    def database_id(self) -> str:
        with self._read() as conn:
            value = conn.execute(sa.select(meta.c.value).where(meta.c.key == "database_id"))
            return str(value.scalar_one())

    def close(self) -> None:
        self._tx.close()
