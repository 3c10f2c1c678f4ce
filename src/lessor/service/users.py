"""Use cases of users: add one (its token told once), list, revoke, rotate, authenticate.

A mixin of LessorService. Who may call the first four is the API's to say (an
admin); authenticate is how a request's `Authorization: Bearer TOKEN` becomes a
user, by the token's hash (the token itself is never stored).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from lessor.domain.users import ALL_POOLS, USER_NAME, User, new_token, token_hash, valid_name
from lessor.service.errors import Conflict, InvalidRequest, NotFound
from lessor.service.executor import writes
from lessor.store.interface import Store


@dataclass(frozen=True)
class NewToken:
    user: User
    token: str
    """Told this once; the database keeps only its hash."""


class UserCases:
    store: Store
    clock: Callable[[], float]

    @writes
    def add_user(
        self,
        name: str,
        admin: bool = False,
        privileges: Sequence[str] = (),
        quotas: Mapping[str, int] | None = None,
    ) -> NewToken:
        if not valid_name(name):
            raise InvalidRequest(f"name: {name!r} is no user name ({USER_NAME})")
        for pool, limit in (quotas or {}).items():
            if not pool or limit < 0:
                raise InvalidRequest(
                    f"quotas.{pool or '?'}: a pool (or {ALL_POOLS!r}) and 0 or more"
                )
        token = new_token()
        user = User(
            name,
            token_hash(token),
            admin=admin,
            privileges=tuple(dict.fromkeys(privileges)),
            quotas=dict(quotas or {}),
            created_at=self.clock(),
        )
        if not self.store.add_user(user):
            raise Conflict(f"user {name} exists already")
        return NewToken(user, token)

    def list_users(self) -> list[User]:
        return self.store.list_users()

    @writes
    def revoke_user(self, name: str) -> User:
        """Its token stops working at once; what it opened stays until closed or expired."""
        if self.store.get_user(name) is None:
            raise NotFound(f"user {name} does not exist")
        self.store.revoke_user(name, self.clock())
        user = self.store.get_user(name)
        assert user is not None
        return user

    @writes
    def rotate_token(self, name: str) -> NewToken:
        """A new token for the user; the old one stops working at once."""
        token = new_token()
        if not self.store.rotate_token(name, token_hash(token)):
            raise NotFound(f"user {name} does not exist or was revoked")
        user = self.store.get_user(name)
        assert user is not None
        return NewToken(user, token)

    def authenticate(self, token: str) -> User | None:
        """The active user whose token this is, or None."""
        user = self.store.user_by_token(token_hash(token))
        return user if user is not None and user.active else None
