"""The SQL store's users (domain/users.py) and the owners of tickets."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import sqlalchemy as sa

from lessor.domain.users import User
from lessor.store.base import SqlBase
from lessor.store.tables import tickets, users


def _user(row: Any) -> User:
    return User(
        name=row.name,
        token_hash=row.token_hash,
        admin=bool(row.admin),
        privileges=tuple(row.privileges or ()),
        quotas=dict(row.quotas or {}),
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


class UserRows(SqlBase):
    def add_user(self, user: User) -> bool:
        values = {
            "name": user.name,
            "token_hash": user.token_hash,
            "admin": user.admin,
            "privileges": list(user.privileges),
            "quotas": dict(user.quotas),
            "created_at": user.created_at,
            "revoked_at": None,
        }
        try:
            with self._write(savepoint=True) as conn:
                conn.execute(users.insert().values(values))
        except sa.exc.IntegrityError:
            return False
        return True

    def get_user(self, name: str) -> User | None:
        with self._read() as conn:
            row = conn.execute(users.select().where(users.c.name == name)).first()
        return _user(row) if row is not None else None

    def user_by_token(self, token_hash: str) -> User | None:
        with self._read() as conn:
            row = conn.execute(users.select().where(users.c.token_hash == token_hash)).first()
        return _user(row) if row is not None else None

    def list_users(self) -> list[User]:
        with self._read() as conn:
            rows = conn.execute(users.select().order_by(users.c.name)).all()
        return [_user(r) for r in rows]

    def revoke_user(self, name: str, now: float) -> bool:
        with self._write() as conn:
            done = conn.execute(
                users.update()
                .where(users.c.name == name, users.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
        return bool(done.rowcount)

    def rotate_token(self, name: str, token_hash: str) -> bool:
        with self._write() as conn:
            done = conn.execute(
                users.update()
                .where(users.c.name == name, users.c.revoked_at.is_(None))
                .values(token_hash=token_hash)
            )
        return bool(done.rowcount)

    def set_owner(self, ticket_ids: Collection[int], owner: str) -> None:
        with self._write() as conn:
            conn.execute(
                tickets.update().where(tickets.c.id.in_(list(ticket_ids))).values(owner=owner)
            )
