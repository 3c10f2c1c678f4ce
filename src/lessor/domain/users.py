"""Users: a name with a hashed token, an admin flag, privileges and quotas.

A token is random (256 bits) and told once, when the user is added; the
database keeps only its SHA-256 (a hash of that much randomness needs no salt
or stretching). A ticket or job records its owner, who may then close, extend
and read it as its key's holder may. A quota caps the resources a user holds
at once in a pool (`*`: in all pools together); the planner keeps it, and a
ticket over quota waits, saying so.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from lessor.domain.values import Evolving

USER_NAME = r"^[a-z_][a-z0-9_.-]{0,63}$"
"""A user's name: plain, as a Unix account's."""
ALL_POOLS = "*"
"""The quota key that caps a user's resources over all pools together."""


def new_token() -> str:
    return "lsr_" + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def valid_name(name: str) -> bool:
    return re.match(USER_NAME, name) is not None


@dataclass(frozen=True)
class User(Evolving):
    name: str
    token_hash: str
    admin: bool = False
    privileges: tuple[str, ...] = ()
    quotas: Mapping[str, int] = field(default_factory=dict)
    """Pool name (or `*`) -> resources held at once at most."""
    created_at: float = 0.0
    revoked_at: float | None = None
    """Its token no longer works from then on."""

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def over_quota(quotas: Mapping[str, int], held: Mapping[str, int], pool: str) -> str | None:
    """Why one more resource of `pool` would break a user's `quotas` ("quota: 4/4 resources
    held in pool p"), or None. `held`: the user's resources held now, by pool."""
    limit = quotas.get(pool)
    if limit is not None and held.get(pool, 0) >= limit:
        return f"quota: {held.get(pool, 0)}/{limit} resources held in pool {pool}"
    total = quotas.get(ALL_POOLS)
    if total is not None and sum(held.values()) >= total:
        return f"quota: {sum(held.values())}/{total} resources held"
    return None


def permitted(
    privilege: str | None, owner: str | None, privileges: Mapping[str, Iterable[str]]
) -> bool:
    """Whether a ticket of `owner` may have a resource of a pool requiring `privilege`."""
    return privilege is None or (owner is not None and privilege in privileges.get(owner, ()))
