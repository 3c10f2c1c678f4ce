"""Events: what happened to a ticket, a resource or a pool, when, and why.

The store writes one in the same transaction as every transition, so the log
can never disagree with the state; the reconciler adds hook runs. Kinds are
strings in the database ("ticket.assigned"), so an event written by a newer
server still reads back here as a plain string.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from lessor.domain.states import ResourceState
from lessor.domain.values import Evolving


class EventKind(StrEnum):
    TICKET_OPENED = "ticket.opened"
    TICKET_ASSIGNED = "ticket.assigned"
    """The ticket got a resource, which is TAKEN from now on; details: waited (seconds)."""
    TICKET_CLOSED = "ticket.closed"
    TICKET_FAILED = "ticket.failed"
    """It can never be satisfied; the message says why."""
    TICKET_EXPIRED = "ticket.expired"
    """Its TTL ran out without a renewal; it is closed."""

    RESOURCE_CREATED = "resource.created"
    """A row exists and cmd_new is about to run (STARTING)."""
    RESOURCE_UP = "resource.up"
    RESOURCE_RELEASING = "resource.releasing"
    RESOURCE_RELEASED = "resource.released"
    """cmd_release succeeded: UP again for a later ticket of the same sandbox."""
    RESOURCE_DELETE_REQUESTED = "resource.delete_requested"
    RESOURCE_DELETING = "resource.deleting"
    RESOURCE_ENDED = "resource.ended"
    RESOURCE_DELETE_FAILED = "resource.delete_failed"
    """cmd_delete failed; details: retry_at. Back to DELETE_REQUESTED."""
    RESOURCE_LIVECHECK_FAILED = "resource.livecheck_failed"
    """details: failures (in a row) and attempts (the pool's limit)."""
    RESOURCE_IMPORTED = "resource.imported"
    """Taken over from another system (resalloc) as it was there; details: state."""
    RESOURCE_HELD = "resource.held"
    RESOURCE_UNHELD = "resource.unheld"

    HOOK_STARTED = "hook.started"
    """details: hook (cmd_new, cmd_livecheck, cmd_release, cmd_delete) and log (file name)."""
    HOOK_FINISHED = "hook.finished"
    """details: hook, exit_code, duration (seconds), ok."""

    POOL_DRAINED = "pool.drained"
    POOL_UNDRAINED = "pool.undrained"


K = EventKind
R = ResourceState

RESOURCE_STATE_AFTER: Mapping[str, ResourceState] = {
    K.RESOURCE_CREATED: R.STARTING,
    K.RESOURCE_UP: R.UP,
    K.TICKET_ASSIGNED: R.TAKEN,
    K.RESOURCE_RELEASING: R.RELEASING,
    K.RESOURCE_RELEASED: R.UP,
    K.RESOURCE_DELETE_REQUESTED: R.DELETE_REQUESTED,
    K.RESOURCE_DELETING: R.DELETING,
    K.RESOURCE_ENDED: R.ENDED,
    K.RESOURCE_DELETE_FAILED: R.DELETE_REQUESTED,
}
"""The state a resource is in after each kind that moves one: replaying these gives its history."""


def state_after(kind: str, details: Mapping[str, Any]) -> ResourceState | None:
    """The resource's state after an event, if the event moved it."""
    if kind == K.RESOURCE_IMPORTED:
        return ResourceState(details["state"])
    return RESOURCE_STATE_AFTER.get(kind)


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
