"""What the planner asks the reconciler to do. Plain values: easy to assert on in tests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Assign:
    """Give an UP resource to an open ticket."""

    ticket_id: int
    resource_id: int


@dataclass(frozen=True)
class GrantJob:
    """Give every part of a waiting job its UP resource, in one transaction, or none."""

    job_id: int
    parts: tuple[Assign, ...]


@dataclass(frozen=True)
class Start:
    """Create one new resource in a pool (run cmd_new).

    `for_ticket` reserves it: an on-demand resource (or a credential) goes to the
    ticket it was started for, not to whichever ticket happens to be first when it
    is up.
    """

    pool: str
    for_ticket: int | None = None


@dataclass(frozen=True)
class Livecheck:
    resource_id: int


@dataclass(frozen=True)
class Extend:
    """Run cmd_extend on a TAKEN credential: its ticket's lease now ends after it does."""

    resource_id: int


@dataclass(frozen=True)
class Recycle:
    """The ticket of a TAKEN resource ended: release it for reuse, or have it deleted.

    `release_hook`: with reuse, whether cmd_release must run first (RELEASING until it
    has); without one the resource is UP for its sandbox at once.
    """

    resource_id: int
    reuse: bool
    release_hook: bool = False


@dataclass(frozen=True)
class Release:
    """Run cmd_release on a RELEASING resource, then it is UP again for its sandbox."""

    resource_id: int


@dataclass(frozen=True)
class FinishRelease:
    """A RELEASING resource whose pool has no cmd_release (any more): UP for its sandbox."""

    resource_id: int


@dataclass(frozen=True)
class Retire:
    """Have a ready resource deleted: UP (reuse window over, idle spare, pool drained, dead)
    or TAKEN by a ticket failed with it (dead)."""

    resource_id: int
    reason: str


@dataclass(frozen=True)
class Delete:
    """Run (or retry) cmd_delete on a resource whose deletion was requested; `hook`: whether
    its pool has one (without, the resource is simply ENDED)."""

    resource_id: int
    hook: bool = False


@dataclass(frozen=True)
class FailTicket:
    """A ticket whose resource died: FAILED, still naming the resource (its data stays)."""

    ticket_id: int
    message: str


@dataclass(frozen=True)
class ExpireTicket:
    """A ticket whose TTL ran out without a renewal: close it; its resource is recycled."""

    ticket_id: int
    message: str


Action = (
    Assign
    | GrantJob
    | Start
    | Livecheck
    | Extend
    | Recycle
    | Release
    | FinishRelease
    | Retire
    | Delete
    | FailTicket
    | ExpireTicket
)


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...]
    wake_at: float | None
    """When something becomes due (a livecheck, a delete retry), if nothing wakes us sooner."""
    reasons: Mapping[int, str] = field(default_factory=dict)
    """Why each open ticket that gets no resource in this plan is still waiting."""
