"""States of resources and tickets, and the only transitions allowed between them.

The table is written once here; the store guards every update with the state it
starts from, and the planner and reconciler ask `check_transition` before acting,
so an impossible move is a bug found at once rather than a leaked VM.
"""

from __future__ import annotations

from enum import StrEnum


class ResourceState(StrEnum):
    STARTING = "STARTING"
    """cmd_new is running; the resource may already cost money."""
    UP = "UP"
    """Ready and free: a spare waiting for a ticket."""
    TAKEN = "TAKEN"
    """Assigned to a ticket."""
    RELEASING = "RELEASING"
    """Its ticket closed; cmd_release is running before reuse."""
    DELETE_REQUESTED = "DELETE_REQUESTED"
    """Must be deleted; waits for (a retry of) cmd_delete."""
    DELETING = "DELETING"
    """cmd_delete is running."""
    ENDED = "ENDED"
    """cmd_delete succeeded; kept only as history."""


class TicketState(StrEnum):
    OPEN = "OPEN"
    """Waiting for a resource."""
    ASSIGNED = "ASSIGNED"
    """Holds a resource; its data is available."""
    CLOSED = "CLOSED"
    """Closed by its owner (or an admin); its resource is recycled."""
    FAILED = "FAILED"
    """Can never be satisfied (e.g. no pool has its tags); see its message."""


R = ResourceState
RESOURCE_TRANSITIONS: dict[ResourceState, frozenset[ResourceState]] = {
    R.STARTING: frozenset({R.UP, R.DELETE_REQUESTED}),
    R.UP: frozenset({R.TAKEN, R.DELETE_REQUESTED}),
    R.TAKEN: frozenset({R.RELEASING, R.DELETE_REQUESTED}),
    R.RELEASING: frozenset({R.UP, R.DELETE_REQUESTED}),
    R.DELETE_REQUESTED: frozenset({R.DELETING}),
    R.DELETING: frozenset({R.ENDED, R.DELETE_REQUESTED}),
    R.ENDED: frozenset(),
}

T = TicketState
TICKET_TRANSITIONS: dict[TicketState, frozenset[TicketState]] = {
    T.OPEN: frozenset({T.ASSIGNED, T.CLOSED, T.FAILED}),
    T.ASSIGNED: frozenset({T.CLOSED}),
    T.CLOSED: frozenset(),
    T.FAILED: frozenset({T.CLOSED}),
}

LIVE_RESOURCE_STATES = frozenset(set(ResourceState) - {R.ENDED})
"""States of resources that exist (or may exist) somewhere and count against `max`."""

ACTIVE_TICKET_STATES = frozenset({T.OPEN, T.ASSIGNED})


class InvalidTransition(Exception):
    """A state change that the life cycle does not allow."""


def check_transition(
    current: ResourceState | TicketState, target: ResourceState | TicketState
) -> None:
    """Raise InvalidTransition unless `current -> target` is in the table."""
    table: dict[ResourceState, frozenset[ResourceState]] | dict[TicketState, frozenset[TicketState]]
    table = RESOURCE_TRANSITIONS if isinstance(current, ResourceState) else TICKET_TRANSITIONS
    allowed = table[current]  # type: ignore[index]
    if target not in allowed:
        raise InvalidTransition(f"{current} -> {target} is not an allowed transition")
