"""Domain entities: frozen values that the planner reasons about and the store persists."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from lessor.domain.hooks import Hook
from lessor.domain.states import ResourceState, TicketState
from lessor.domain.values import Evolving

STATE = {"state": True}
"""Field metadata: a field of the pool's state, not of its definition in pools.yaml."""


@dataclass(frozen=True)
class Tag:
    """A capability a pool offers; `priority` ranks pools that offer the same tag."""

    name: str
    priority: int = 0


@dataclass(frozen=True)
class Pool(Evolving):
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
    cmd_extend: str | None = None
    """A credential pool's command run when its ticket's lease is renewed (LESSOR_EXPIRES_AT)."""
    hook_dir: str = ""
    """Directory hooks run in: that of the pools.yaml they come from ("": the server's)."""
    list_period: float = 1800.0
    """Seconds between runs of cmd_list (resalloc: a fixed 30 minutes)."""
    livecheck_period: float = 600.0
    livecheck_attempts: int = 3
    reuse_opportunity_time: float = 0.0
    reuse_max_count: int = 0
    reuse_max_time: float = 3600.0
    hook_timeout: float = 3600.0
    name_pattern: str = "{pool_name}_{id:08d}_{datetime}"
    description: str = ""
    secret_data: bool = False
    """Resource data (what cmd_new printed) is a secret: only a ticket's owner gets it, never
    a listing, the web UI or a hook log shown there."""
    credential: bool = False
    """It mints a credential per ticket (docs/security.md): started for, and reserved to, a
    waiting ticket, told that ticket's lease end, never kept as a spare."""
    priority: int = 0
    """Higher is cheaper: its ready resources are handed out, and new ones started, first."""
    idle_time: float = 600.0
    """Seconds a spare beyond `max_prealloc` may wait unused before it is deleted."""
    livecheck_timeout: float = 600.0
    """Seconds before cmd_livecheck is killed; a timeout counts as a failed check."""
    start_backoff: float = 5.0
    """Seconds of the pause after a failed cmd_new, doubling with each failure in a row."""
    start_backoff_max: float = 300.0
    delete_backoff: float = 10.0
    """Seconds before a failed cmd_delete is retried, doubling with each failure in a row."""
    delete_backoff_max: float = 3600.0
    privilege: str | None = None
    """A word whoever asks for this pool's resources must have (domain/users.py); None:
    anyone may."""
    start_for_waiting: bool = False
    """Start resources for waiting tickets too, beyond `max_prealloc` (lessor's; resalloc
    starts only spares, and an on-demand pool only for the tickets that ask)."""
    min_prealloc: int = 0
    """The floor of spares when they are sized by `target_wait_p95` (max_prealloc the ceiling)."""
    target_wait_p95: float | None = None
    """Seconds a ticket may wait (opened to assigned) at the 95th percentile: its spares are
    then sized each hour from the pool's history (see domain/forecast.py)."""
    target_tag: str | None = None
    """The tag whose target_wait sizes this pool's spares together with every other pool
    carrying it (one stock, shared cheapest first); None: sized alone, if at all."""
    cost_per_hour: float = 0.0
    """What one resource costs an hour, in any unit; shown with the spares it pays for."""
    # What follows is the pool's state, kept in the database (pool_states), not its
    # definition: every server sharing the database sees the same.
    drained: bool = field(default=False, metadata=STATE)
    """An admin's drain: no new resources, spares deleted, assigned ones kept until closed."""
    drain_reason: str = field(default="", metadata=STATE)
    removed: bool = field(default=False, metadata=STATE)
    """Gone from pools.yaml but resources remain: drained until the last one is deleted."""
    last_start: float = field(default=0.0, metadata=STATE)
    """When its last cmd_new started: `start_delay` counts from it, a failed start and a
    restart included."""
    start_failures: int = field(default=0, metadata=STATE)
    """cmd_new failures in a row; one success resets it (see start_backoff)."""
    last_failure: str = field(default="", metadata=STATE)
    """What the last failed cmd_new said: its exit and the tail of its stderr (never for a
    secret_data pool)."""
    failed_at: float | None = field(default=None, metadata=STATE)
    """When the last cmd_new failed; start_backoff counts from then."""
    spares_target: int | None = field(default=None, metadata=STATE)
    """The spares sized for this hour by target_wait (service/sizing.py); None: max_prealloc."""
    spares_reason: str = field(default="", metadata=STATE)
    """Why that many: "p95 wait 28 s forecast with 4 spares; 3 would give 41 s (...)"."""
    spares_wait: float | None = field(default=None, metadata=STATE)
    """The p95 wait forecast with spares_target (seconds), for /metrics and the API."""

    @property
    def failing(self) -> bool:
        """Its last start failed: it backs off before the next (see planner/starts.py)."""
        return self.start_failures > 0

    @property
    def prealloc(self) -> int:
        """The spares to keep: with target_wait, those sized for the hour within min_prealloc
        and max_prealloc (until the first sizing, max_prealloc); else max_prealloc."""
        if self.target_wait_p95 is None or self.spares_target is None:
            return self.max_prealloc
        return min(max(self.spares_target, self.min_prealloc), self.max_prealloc)

    @property
    def tag_names(self) -> frozenset[str]:
        return frozenset(t.name for t in self.tags)

    def command(self, hook: Hook) -> str | None:
        """The pool's command line for the hook, if it has one."""
        command: str | None = getattr(self, hook.value)
        return command

    def timeout(self, hook: Hook) -> float:
        """Seconds the hook may run before it is killed (a failure, exit code 124)."""
        return self.livecheck_timeout if hook is Hook.LIVECHECK else self.hook_timeout

    @property
    def reuses(self) -> bool:
        """Whether a released resource may serve a later ticket of the same sandbox.

        Only a reuse window makes it wait for one; without it a released
        resource would be cleaned by cmd_release and deleted at once.
        """
        return self.reuse_opportunity_time > 0


@dataclass(frozen=True)
class Resource(Evolving):
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
    counters: tuple[tuple[str, int], ...] = ()
    """resalloc's named counters: (counter name, value held by this resource)."""
    hold_reason: str | None = None
    """Set by an admin's hold: never assigned, never deleted, kept as it is for diagnosis."""
    reserved_for: int | None = None
    """The ticket an on-demand resource was started for; no other ticket takes it meanwhile."""
    hook: str | None = None
    """The hook running on it now (cmd_new, cmd_livecheck, …), claimed in the database so
    that no second hook starts on it, by this server or another."""
    hook_owner: str = ""
    """The server that runs `hook`."""
    hook_until: float | None = None
    """When the claim on `hook` lapses unless its owner renews it (its owner died)."""
    sandboxed_since: float | None = None
    """When it was first assigned: `reuse_max_time` counts from then (resalloc's column)."""
    released_at: float | None = None
    """When its last ticket ended (resalloc's column)."""
    valid_until: float | None = None
    """A credential's own end: the LESSOR_EXPIRES_AT its cmd_new or last cmd_extend was told
    (None: told none). Below its ticket's expires_at, cmd_extend is due."""

    @property
    def held(self) -> bool:
        return self.hold_reason is not None

    @property
    def busy(self) -> bool:
        """A hook runs on it: it is handed out, checked or deleted only once that is done."""
        return self.hook is not None


@dataclass(frozen=True)
class Claim:
    """A hook claimed on a resource: which, by which server, until when (Resource.hook)."""

    hook: str
    owner: str
    until: float


@dataclass(frozen=True)
class Ticket(Evolving):
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
    ttl: float | None = None
    """Seconds the lease lasts without a renewal (ticket-extend); None: until closed."""
    expires_at: float | None = None
    """When the ticket is closed unless extended before; None without a TTL."""
    key_hash: str | None = None
    """The SHA-256 of the ticket's key (its holder's proof), never the key itself."""
    idempotency_key: str | None = None
    """The Idempotency-Key of the request that opened it, if it had one."""
    job_id: int | None = None
    """The job it is a part of (granted with the job's other parts, never alone)."""
    part: str | None = None
    """Its name in that job ("x86", "arm")."""
    owner: str | None = None
    """The user who opened it (domain/users.py); None: anonymous (its key only)."""


@dataclass(frozen=True)
class Snapshot:
    """Everything the planner may look at: no I/O happens while planning over it.

    Every fact is one the database holds (a hook in flight is `Resource.hook`),
    so any server planning over the same database plans with the same facts.
    """

    now: float
    pools: tuple[Pool, ...]
    resources: tuple[Resource, ...]
    tickets: tuple[Ticket, ...]
    quotas: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    """Each user's quotas that has any: user name -> pool (or `*`) -> resources at most."""
    privileges: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Each active user's privileges that has any."""
