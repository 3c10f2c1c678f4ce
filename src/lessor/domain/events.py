"""Events: what happened to a ticket, a resource or a pool, when, and why.

The store writes one in the same transaction as every transition, so the log
can never disagree with the state; the reconciler adds hook runs. Their kinds
are in kinds.py, and which kinds move what in states.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lessor.domain.kinds import EventKind as K
from lessor.domain.model import Resource, Ticket
from lessor.domain.values import Evolving


@dataclass(frozen=True)
class Event(Evolving):
    kind: str
    """An EventKind; a plain string only for kinds this version does not know."""
    at: float
    ticket_id: int | None = None
    resource_id: int | None = None
    pool: str | None = None
    message: str = ""
    """The cause, in words: "ticket closed", "cmd_new exited with 1", "deleted by an admin"."""
    details: Mapping[str, Any] = field(default_factory=dict)
    id: int = 0
    """Assigned by the store; increases with every event, so it orders and resumes a log."""


@dataclass(frozen=True)
class EventFilter(Evolving):
    """Which events to read; every field given must match."""

    ticket_id: int | None = None
    resource_id: int | None = None
    pool: str | None = None
    since: float | None = None
    """Only events at or after this time."""
    after_id: int | None = None
    """Only events newer than this one (a follower resuming where it was)."""
    kinds: tuple[str, ...] = ()
    limit: int = 100
    """At most this many: the newest ones, or with `after_id` the oldest ones after it."""

    def matches(self, e: Event) -> bool:
        """Whether the event passes every field given (`limit` aside)."""
        return (
            (self.ticket_id is None or e.ticket_id == self.ticket_id)
            and (self.resource_id is None or e.resource_id == self.resource_id)
            and (self.pool is None or e.pool == self.pool)
            and (self.since is None or e.at >= self.since)
            and (not self.kinds or e.kind in self.kinds)
            and (self.after_id is None or e.id > self.after_id)
        )


def ticket_opened(t: Ticket) -> Event:
    details: dict[str, Any] = {"tags": list(t.tags), "sandbox": t.sandbox, "priority": t.priority}
    if t.job_id is not None:
        details |= {"job": t.job_id, "part": t.part}
    return Event(K.TICKET_OPENED, t.created_at, ticket_id=t.id, details=details)


def ticket_assigned(
    ticket_id: int, opened_at: float, resource_id: int, pool: str, name: str, now: float
) -> Event:
    """One event for both moves, the ticket's ASSIGN and the resource's TAKE."""
    return Event(
        K.TICKET_ASSIGNED,
        now,
        ticket_id=ticket_id,
        resource_id=resource_id,
        pool=pool,
        message=f"got {name}",
        details={"waited": max(0.0, now - opened_at)},
    )


def spares_changed(pool: str, was: int | None, spares: int | None, why: str, now: float) -> Event:
    """The pool's spares target moved (service/sizing.py): from `was` to `spares`."""
    return Event(K.POOL_SPARES, now, pool=pool, message=why, details={"spares": spares, "was": was})


def credential_revoked(r: Resource, now: float) -> Event:
    return Event(
        K.CREDENTIAL_REVOKED,
        now,
        ticket_id=r.ticket_id,
        resource_id=r.id,
        pool=r.pool,
        message="cmd_delete succeeded: the credential is revoked",
    )


def credential_extend_failed(
    r: Resource, ticket_id: int, said: str, expires_at: float, now: float
) -> Event:
    """cmd_extend failed: the ticket now ends when the credential does, at `expires_at`."""
    return Event(
        K.CREDENTIAL_EXTEND_FAILED,
        now,
        ticket_id=ticket_id,
        resource_id=r.id,
        pool=r.pool,
        message=f"{said}: the lease is cut back to the credential's own end",
        details={"expires_at": expires_at},
    )


def resource_created(r: Resource) -> Event:
    return Event(
        K.RESOURCE_CREATED, r.created_at, resource_id=r.id, pool=r.pool, details={"name": r.name}
    )


def resource_imported(r: Resource) -> Event:
    """A resource taken over from resalloc, in the state it was in there."""
    return Event(
        K.RESOURCE_IMPORTED,
        r.state_since or r.created_at,
        ticket_id=r.ticket_id,
        resource_id=r.id,
        pool=r.pool,
        message="taken over from resalloc",
        details={"state": str(r.state), "name": r.name},
    )
