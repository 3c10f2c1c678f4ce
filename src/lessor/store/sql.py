"""SqlStore: the Store on SQLite or PostgreSQL, every transition a guarded UPDATE.

Its operations are in the modules named after what they keep (tickets.py,
resources.py, pools.py, eventrows.py, adoption.py); this joins them and
opens the database.
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from lessor.store import migrate
from lessor.store.adoption import Adoption
from lessor.store.engine import make_engine
from lessor.store.eventrows import EventRows
from lessor.store.jobs import JobRows
from lessor.store.leadership import PgLeadership, SoleLeadership
from lessor.store.notify import Listener, Woken
from lessor.store.pools import PoolRows
from lessor.store.resources import ResourceRows
from lessor.store.tables import meta
from lessor.store.tickets import TicketRows
from lessor.store.transactions import Transactions
from lessor.store.users import UserRows

EPOCH = "leader_epoch"
_EPOCH = sa.select(meta.c.value).where(meta.c.key == EPOCH)


class SqlStore(JobRows, UserRows, TicketRows, ResourceRows, PoolRows, EventRows, Adoption):
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

    def leadership(self) -> PgLeadership | SoleLeadership:
        if self.engine.dialect.name == "postgresql":
            return PgLeadership(self.engine.url)
        return SoleLeadership()  # one server per SQLite file (server.py holds it locked)

    def listen(self, woken: Woken) -> Listener | None:
        if self.engine.dialect.name != "postgresql":
            return None  # one server: its own commits tell it (on_events)
        return Listener(self.engine.url, woken)

    def take_lead(self) -> int:
        with self._write() as conn:
            found = conn.execute(_EPOCH.with_for_update()).scalar()
            epoch = int(found or 0) + 1
            if found is None:
                conn.execute(meta.insert().values(key=EPOCH, value=str(epoch)))
            else:
                conn.execute(meta.update().where(meta.c.key == EPOCH).values(value=str(epoch)))
        return epoch

    def fenced(self, epoch: int) -> bool:
        with self._write() as conn:
            found = conn.execute(_EPOCH.with_for_update(read=True)).scalar()
        return found is not None and int(found) == epoch

    def ping(self) -> None:
        with self._read() as conn:
            conn.execute(sa.text("SELECT 1"))

    def database_id(self) -> str:
        return self._meta("database_id")

    def secret(self) -> bytes:
        return bytes.fromhex(self._meta("secret"))

    def _meta(self, key: str) -> str:
        """A value of the meta table; made on first use (the same for every server: the one
        that inserts first wins)."""
        with self._read() as conn:
            found = conn.execute(sa.select(meta.c.value).where(meta.c.key == key)).scalar()
        if found is None:
            insert = (
                postgresql_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
            )
            made = insert(meta).values(key=key, value=secrets.token_hex(32))
            with self._write() as conn:
                conn.execute(made.on_conflict_do_nothing(index_elements=["key"]))
            with self._read() as conn:
                found = conn.execute(sa.select(meta.c.value).where(meta.c.key == key)).scalar_one()
        return str(found)

    def close(self) -> None:
        self._tx.close()
