"""Domain entities: frozen values that the planner reasons about and the store persists."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Self

from lessor.domain.states import ResourceState, TicketState


@dataclass(frozen=True)
class Tag:
    """A capability a pool offers; `priority` ranks pools that offer the same tag."""

    name: str
    priority: int = 0


@dataclass(frozen=True)
class Pool:
    """A source of resources of one kind: its limits, hooks and tags (from pools.yaml)."""

    name: str
    max: int = 4
    max_starting: int = 1
    max_prealloc: int = 2
    start_delay: float = 0.0
    tags: tuple[Tag, ...] = ()
    tags_on_demand: tuple[Tag, ...] = ()
    named_counters: tuple[str, ...] = ()
    cmd_new: str | None = None
    cmd_delete: str | None = None
    cmd_livecheck: str | None = None
    cmd_release: str | None = None
    cmd_list: str | None = None
    livecheck_period: float = 600.0
    livecheck_attempts: int = 3
    reuse_opportunity_time: float = 0.0
    reuse_max_count: int = 0
    reuse_max_time: float = 3600.0
    hook_timeout: float = 3600.0
    name_pattern: str = "{pool_name}_{id:08d}_{datetime}"
    description: str = ""

    @property
    def tag_names(self) -> frozenset[str]:
        return frozenset(t.name for t in self.tags)

    @property
    def reuses(self) -> bool:
        """Whether a released resource may serve a later ticket of the same sandbox."""
        return self.reuse_opportunity_time > 0 or self.reuse_max_count > 0


@dataclass(frozen=True)
class Resource:
    """One instance from a pool. `data` is what cmd_new printed (an address, a token...)."""

    id: int
    pool: str
    name: str
    state: ResourceState
    tags: tuple[str, ...] = ()
    data: bytes | None = None
    ticket_id: int | None = None
    sandbox: str | None = None
    id_in_pool: int = 0
    releases: int = 0
    created_at: float = 0.0
    state_since: float = 0.0
    last_livecheck: float | None = None
    livecheck_failures: int = 0
    delete_attempts: int = 0
    next_attempt_at: float = 0.0
    message: str = ""

    def evolve(self, **changes: object) -> Self:
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Ticket:
    """A request for one resource whose tags include all of `tags`."""

    id: int
    tags: tuple[str, ...]
    state: TicketState
    sandbox: str | None = None
    resource_id: int | None = None
    priority: int = 0
    created_at: float = 0.0
    assigned_at: float | None = None
    closed_at: float | None = None
    message: str = ""

    def evolve(self, **changes: object) -> Self:
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Snapshot:
    """Everything the planner may look at: no I/O happens while planning over it.

    `busy` holds ids of resources with a hook in flight in this reconciler, so
    the planner never asks for two hooks on one resource at once.
    """

    now: float
    pools: tuple[Pool, ...]
    resources: tuple[Resource, ...]
    tickets: tuple[Ticket, ...]
    busy: frozenset[int] = field(default_factory=frozenset)
