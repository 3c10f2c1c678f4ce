"""What the planner asks the reconciler to do. Plain values: easy to assert on in tests."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Assign:
    """Give an UP resource to an open ticket."""

    ticket_id: int
    resource_id: int


@dataclass(frozen=True)
class Start:
    """Create one new resource in a pool (run cmd_new)."""

    pool: str


@dataclass(frozen=True)
class Livecheck:
    resource_id: int


@dataclass(frozen=True)
class Recycle:
    """The ticket of a TAKEN resource ended: release it for reuse, or have it deleted."""

    resource_id: int
    reuse: bool


@dataclass(frozen=True)
class Release:
    """Run cmd_release on a RELEASING resource, then it is UP again for its sandbox."""

    resource_id: int


@dataclass(frozen=True)
class Retire:
    """Have an UP resource deleted (reuse window over, pool shrunk)."""

    resource_id: int
    reason: str


@dataclass(frozen=True)
class Delete:
    """Run (or retry) cmd_delete on a resource whose deletion was requested."""

    resource_id: int


@dataclass(frozen=True)
class FailTicket:
    """An open ticket that no pool can ever serve."""

    ticket_id: int
    message: str


Action = Assign | Start | Livecheck | Recycle | Release | Retire | Delete | FailTicket


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...]
    wake_at: float | None
    """When something becomes due (a livecheck, a delete retry), if nothing wakes us sooner."""
