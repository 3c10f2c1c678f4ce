"""Ticket keys: the proof of who holds a ticket, until users exist.

A key is given out once, in the answer that opens the ticket, and never
stored: the ticket keeps its SHA-256. A ticket opened with an
Idempotency-Key gets a key derived from it with the database's own secret
(HMAC), so that a retried open — its first answer lost — answers the same
ticket with the same key, on any server sharing the database. An
Idempotency-Key is therefore as secret as the key it gets back: clients
make a new random one (a UUID) per ticket.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import Enum

HEADER = "Lessor-Ticket-Key"
"""The request header a ticket's holder proves itself with."""


def new_key(secret: bytes, idempotency_key: str | None) -> str:
    """A new ticket's key: random, or derived from the request's Idempotency-Key."""
    if idempotency_key is None:
        return secrets.token_urlsafe(32)
    mac = hmac.new(secret, f"ticket-key/{idempotency_key}".encode(), hashlib.sha256)
    return mac.hexdigest()


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class Who(Enum):
    ANONYMOUS = "anonymous"
    HOLDER = "the ticket's holder"
    ADMIN = "an admin"


@dataclass(frozen=True)
class Proof:
    """What a request proves about who sends it: the admin token, a ticket key, or nothing
    (`key` is what it presented, to be checked against a ticket)."""

    admin: bool = False
    key: str | None = None
    resalloc: bool = False
    """It comes over resalloc's XML-RPC, which has no way to carry a key."""
    user: str | None = None
    """The user whose token it carries (domain/users.py): the owner of what it opened."""

    def who(self, stored_hash: str | None, owner: str | None = None) -> Who:
        """Who this is to the ticket whose key hash is `stored_hash` and owner `owner`."""
        if self.admin:
            return Who.ADMIN
        return Who.HOLDER if self.holds(stored_hash, owner) else Who.ANONYMOUS

    def holds(self, stored_hash: str | None, owner: str | None = None) -> bool:
        """Whether it is that ticket's holder (its owner, or it presents its key), whether
        or not it is also an admin: a credential's data goes to its holder only."""
        if self.user is not None and owner == self.user:
            return True
        presented = self.key is not None and stored_hash is not None
        return presented and hmac.compare_digest(key_hash(self.key or ""), stored_hash or "")


ANONYMOUS = Proof()
ADMIN = Proof(admin=True)
RESALLOC = Proof(resalloc=True)
