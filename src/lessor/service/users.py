"""Use cases of users: add one (its token told once), list, revoke, rotate, authenticate.

A mixin of LessorService. Who may call the first four is the API's to say (an
admin); authenticate is how a request's `Authorization: Bearer TOKEN` becomes a
user, by the token's hash (the token itself is never stored).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lessor.domain.matching import pool_serves
from lessor.domain.model import Pool
from lessor.domain.users import (
    ALL_POOLS,
    USER_NAME,
    User,
    new_token,
    permitted,
    token_hash,
    valid_name,
)
from lessor.service.errors import Conflict, InvalidRequest, NotFound, PrivilegeNeeded
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
    pools: tuple[Pool, ...]

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

    def user_limits(self) -> dict[str, Any]:
        """The quotas and privileges of active users, for the planner's snapshot."""
        active = [u for u in self.store.list_users() if u.active]
        return {
            "quotas": {u.name: u.quotas for u in active if u.quotas},
            "privileges": {u.name: frozenset(u.privileges) for u in active if u.privileges},
        }

    def check_privilege(self, tags: Iterable[str], owner: str | None) -> None:
        """Refuse at once (403, naming it) what only pools requiring a privilege the caller
        lacks could serve; the planner keeps to the pools it may use."""
        serving = [p for p in self.pools if pool_serves(p, tags)]
        if not serving:
            return
        user = self.store.get_user(owner) if owner is not None else None
        held = {owner: user.privileges} if owner is not None and user is not None else {}
        if any(permitted(p.privilege, owner, held) for p in serving):
            return
        needed = sorted({p.privilege for p in serving if p.privilege})
        who = f"user {owner}" if owner else "an anonymous caller"
        raise PrivilegeNeeded(
            f"privilege {' or '.join(needed)} needed for tags {', '.join(tags)}; {who} lacks it"
        )

    def authenticate(self, token: str) -> User | None:
        """The active user whose token this is, or None."""
        user = self.store.user_by_token(token_hash(token))
        return user if user is not None and user.active else None
