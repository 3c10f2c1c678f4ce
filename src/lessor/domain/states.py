"""States of resources and tickets, and the one table of the moves allowed between them.

Every state change the store makes is one of the named transitions below:
it takes its allowed source states and the kind of event it records from
here, and nothing else anywhere says which state may follow which. The
event log is replayed with the same table (`state_after`), the simulator
moves its rows with it, and docs/concepts.md draws it. A move that no
transition names is a bug, found by the contract tests, not a leaked VM.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from lessor.domain.kinds import EventKind


class ResourceState(StrEnum):
    STARTING = "STARTING"
    """cmd_new is running; the resource may already cost money."""
    UP = "UP"
    """Ready; free (a spare) unless reserved, held or mid-hook."""
    TAKEN = "TAKEN"
    """Assigned to a ticket."""
    RELEASING = "RELEASING"
    """Its ticket closed; cmd_release is running (or is about to) before reuse."""
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
    """Closed by its owner, an admin or its lease's expiry; its resource is recycled."""
    FAILED = "FAILED"
    """Its resource died (livechecks, an admin's delete); see its message. It still names
    the resource, as resalloc's do."""


S = TypeVar("S", ResourceState, TicketState)


@dataclass(frozen=True)
class Transition(Generic[S]):
    """One allowed move: from any of `sources` (none: the row is created) to `target`,
    recorded as an event of kind `event`."""

    name: str
    sources: frozenset[S]
    target: S
    event: EventKind

    def allows(self, state: S) -> bool:
        return state in self.sources


R = ResourceState
T = TicketState
K = EventKind


def _move(name: str, sources: tuple[S, ...], target: S, event: EventKind) -> Transition[S]:
    return Transition(name, frozenset(sources), target, event)


class ResourceMove:
    """The transitions of a resource (see the life cycle in docs/concepts.md)."""

    CREATE = _move("create", (), R.STARTING, K.RESOURCE_CREATED)
    MARK_UP = _move("mark_up", (R.STARTING,), R.UP, K.RESOURCE_UP)
    TAKE = _move("take", (R.UP,), R.TAKEN, K.TICKET_ASSIGNED)
    RELEASE = _move("release", (R.TAKEN,), R.RELEASING, K.RESOURCE_RELEASING)
    """Its ticket ended and it may be reused: cmd_release (if any) runs next. A resource
    reused without cmd_release makes this move and RELEASED in one transaction."""
    RELEASED = _move("released", (R.RELEASING,), R.UP, K.RESOURCE_RELEASED)
    REQUEST_DELETE = _move(
        "request_delete",
        (R.STARTING, R.UP, R.TAKEN, R.RELEASING),
        R.DELETE_REQUESTED,
        K.RESOURCE_DELETE_REQUESTED,
    )
    START_DELETE = _move("start_delete", (R.DELETE_REQUESTED,), R.DELETING, K.RESOURCE_DELETING)
    END = _move("end", (R.DELETING,), R.ENDED, K.RESOURCE_ENDED)
    DELETE_FAILED = _move(
        "delete_failed", (R.DELETING,), R.DELETE_REQUESTED, K.RESOURCE_DELETE_FAILED
    )
    RECOVER = _move(
        "recover",
        (R.STARTING, R.RELEASING, R.DELETING),
        R.DELETE_REQUESTED,
        K.RESOURCE_DELETE_REQUESTED,
    )
    """A hook that made, cleaned or deleted it was cut off (the server died): only
    cmd_delete, which must be idempotent, can tell what exists, so it runs (again). A
    resource cut off in cmd_release is deleted too, as resalloc does."""

    ALL: tuple[Transition[ResourceState], ...] = (
        CREATE,
        MARK_UP,
        TAKE,
        RELEASE,
        RELEASED,
        REQUEST_DELETE,
        START_DELETE,
        END,
        DELETE_FAILED,
        RECOVER,
    )


class TicketMove:
    """The transitions of a ticket."""

    OPEN = _move("open", (), T.OPEN, K.TICKET_OPENED)
    ASSIGN = _move("assign", (T.OPEN,), T.ASSIGNED, K.TICKET_ASSIGNED)
    CLOSE = _move("close", (T.OPEN, T.ASSIGNED, T.FAILED), T.CLOSED, K.TICKET_CLOSED)
    FAIL = _move("fail", (T.OPEN, T.ASSIGNED), T.FAILED, K.TICKET_FAILED)
    """It can never be served, or its resource died (failed its livechecks, deleted by an
    admin); an assigned ticket keeps naming its resource, whose data it still yields."""
    EXPIRE = _move("expire", (T.OPEN, T.ASSIGNED), T.CLOSED, K.TICKET_EXPIRED)

    ALL: tuple[Transition[TicketState], ...] = (OPEN, ASSIGN, CLOSE, FAIL, EXPIRE)


def _successors(moves: tuple[Transition[S], ...]) -> dict[S, frozenset[S]]:
    states = {m.target for m in moves} | {s for m in moves for s in m.sources}
    return {s: frozenset(m.target for m in moves if s in m.sources) for s in states}


RESOURCE_TRANSITIONS: Mapping[ResourceState, frozenset[ResourceState]] = _successors(
    ResourceMove.ALL
)
"""Which state may follow which, derived from the moves: for drawing and checking."""
TICKET_TRANSITIONS: Mapping[TicketState, frozenset[TicketState]] = _successors(TicketMove.ALL)


def _state_after_kind() -> dict[str, ResourceState]:
    after: dict[str, ResourceState] = {}
    for m in ResourceMove.ALL:
        assert after.setdefault(m.event, m.target) is m.target, f"{m.event}: two targets"
    return after


RESOURCE_STATE_AFTER: Mapping[str, ResourceState] = _state_after_kind()
"""The state a resource is in after each kind of event that moves one: replaying these
gives its history."""

RESOURCE_MOVES_BY_KIND: Mapping[str, tuple[Transition[ResourceState], ...]] = {
    kind: tuple(m for m in ResourceMove.ALL if m.event == kind) for kind in RESOURCE_STATE_AFTER
}
TICKET_MOVES_BY_KIND: Mapping[str, tuple[Transition[TicketState], ...]] = {
    m.event: tuple(n for n in TicketMove.ALL if n.event == m.event) for m in TicketMove.ALL
}


def state_after(kind: str, details: Mapping[str, Any]) -> ResourceState | None:
    """The resource's state after an event, if the event moved it (an import says where to)."""
    if kind == K.RESOURCE_IMPORTED:
        return ResourceState(details["state"])
    return RESOURCE_STATE_AFTER.get(kind)


LIVE_RESOURCE_STATES = frozenset(set(ResourceState) - {R.ENDED})
"""States of resources that exist (or may exist) somewhere and count against `max`."""

CHECKABLE_STATES = frozenset({R.UP, R.TAKEN})
"""Where cmd_livecheck runs and its outcome is counted: ready resources, free or assigned."""

HOLDABLE_STATES = frozenset(LIVE_RESOURCE_STATES - {R.DELETING})
"""A resource an admin may hold (or unhold): a hook that is already deleting it cannot be
held back."""

ACTIVE_TICKET_STATES = frozenset({T.OPEN, T.ASSIGNED})
"""Tickets that wait or hold: a lease runs for them and they may be extended."""
