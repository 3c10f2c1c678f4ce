"""The API's answers as the client sees them: typed, immutable records built from JSON.

Field for field the shapes of `lessor.api.schemas` (TicketOut, ResourceOut,
PoolOut, EventOut, ReloadOut). The client never imports server code, and
pydantic would cost every command its start-up; so would dataclasses, whose
generated methods take ~0.5 ms a class to define, against ~0.1 ms for a
NamedTuple. `from_json` is the one place an answer becomes a typed value,
`to_json` gives the same JSON back (for `--json`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal, NamedTuple, Protocol, get_args

TicketState = Literal["OPEN", "ASSIGNED", "CLOSED", "FAILED"]
ResourceState = Literal[
    "STARTING", "UP", "TAKEN", "RELEASING", "DELETE_REQUESTED", "DELETING", "ENDED"
]
TICKET_STATES: tuple[TicketState, ...] = get_args(TicketState)
RESOURCE_STATES: tuple[ResourceState, ...] = get_args(ResourceState)
ENDED_TICKET_STATES: tuple[TicketState, ...] = ("CLOSED", "FAILED")
"""A ticket in one of these states never changes again."""

JSON = Mapping[str, Any]


def _time(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _required_time(value: Any) -> datetime:
    return datetime.fromisoformat(value)


class _Record(Protocol):
    def _asdict(self) -> dict[str, Any]: ...


def _wire(value: object) -> object:
    """Datetimes as the server writes them (ISO 8601, `Z` for UTC); the rest as it is."""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if hasattr(value, "_asdict"):  # a record inside a record (before: it is a tuple too)
        return to_json(value)
    if isinstance(value, dict):
        return {k: _wire(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_wire(v) for v in value]
    return value


def to_json(model: _Record) -> dict[str, object]:
    """The answer as the server gave it: what `--json` prints."""
    out = {name: _wire(value) for name, value in model._asdict().items()}
    if isinstance(model, TicketOut) and model.key is None:
        del out["key"]  # as the server: in the answer that opened the ticket only
    return out


class TicketOut(NamedTuple):
    id: int
    state: TicketState
    tags: tuple[str, ...]
    sandbox: str | None
    priority: int
    resource_id: int | None
    data: str | None
    """What the pool's cmd_new printed, once assigned (text; `data_b64` has the bytes)."""
    data_b64: str | None
    message: str
    created_at: datetime
    assigned_at: datetime | None
    closed_at: datetime | None
    ttl: float | None
    expires_at: datetime | None
    waiting_reason: str | None
    key: str | None = None
    """The ticket's key: only in the answer that opened it, never again."""

    @classmethod
    def from_json(cls, j: JSON) -> TicketOut:
        return cls(
            id=j["id"],
            state=j["state"],
            tags=tuple(j["tags"]),
            sandbox=j["sandbox"],
            priority=j["priority"],
            resource_id=j["resource_id"],
            data=j["data"],
            data_b64=j["data_b64"],
            message=j["message"],
            created_at=_required_time(j["created_at"]),
            assigned_at=_time(j["assigned_at"]),
            closed_at=_time(j["closed_at"]),
            ttl=j.get("ttl"),
            expires_at=_time(j.get("expires_at")),
            waiting_reason=j.get("waiting_reason"),
            key=j.get("key"),
        )

    @property
    def ended(self) -> bool:
        return self.state in ENDED_TICKET_STATES

    @property
    def closed(self) -> bool:
        """Closed for good: its key is of no more use (a FAILED one still has to be closed)."""
        return self.state == "CLOSED"


class ResourceOut(NamedTuple):
    id: int
    name: str
    pool: str
    state: ResourceState
    tags: tuple[str, ...]
    data: str | None
    ticket_id: int | None
    sandbox: str | None
    id_in_pool: int
    releases: int
    livecheck_failures: int
    delete_attempts: int
    message: str
    created_at: datetime
    state_since: datetime
    last_livecheck: datetime | None
    hold_reason: str | None
    """Set while an admin holds it: never assigned, never deleted."""
    reserved_for: int | None
    """The ticket an on-demand resource is being started for."""

    @classmethod
    def from_json(cls, j: JSON) -> ResourceOut:
        return cls(
            id=j["id"],
            name=j["name"],
            pool=j["pool"],
            state=j["state"],
            tags=tuple(j["tags"]),
            data=j["data"],
            ticket_id=j["ticket_id"],
            sandbox=j["sandbox"],
            id_in_pool=j["id_in_pool"],
            releases=j["releases"],
            livecheck_failures=j["livecheck_failures"],
            delete_attempts=j["delete_attempts"],
            message=j["message"],
            created_at=_required_time(j["created_at"]),
            state_since=_required_time(j["state_since"]),
            last_livecheck=_time(j["last_livecheck"]),
            hold_reason=j.get("hold_reason"),
            reserved_for=j.get("reserved_for"),
        )


class TagOut(NamedTuple):
    name: str
    priority: int

    @classmethod
    def from_json(cls, j: JSON) -> TagOut:
        return cls(name=j["name"], priority=j["priority"])


class PoolOut(NamedTuple):
    name: str
    description: str
    tags: tuple[TagOut, ...]
    max: int
    max_starting: int
    max_prealloc: int
    counts: dict[ResourceState, int]
    """Live resources per state."""
    tags_on_demand: tuple[TagOut, ...]
    priority: int
    """Higher is cheaper: used first."""
    drained: bool
    drain_reason: str
    removed: bool
    """Gone from pools.yaml; drains until empty."""
    failing: bool
    """Its last start failed: it backs off before the next."""
    start_failures: int
    last_failure: str
    """What the last failed cmd_new said, and the end of its log."""
    start_for_waiting: bool
    spares: int
    """The spares it keeps now: max_prealloc, or as target_wait sized them."""
    target_wait_p95: float | None
    min_prealloc: int
    cost_per_hour: float
    spares_reason: str
    """Why that many spares ("p95 wait 28 s forecast with 4 spares; 3 would give 41 s ...")."""
    spares_wait_p95: float | None
    """The p95 wait forecast with them (target_wait pools, once sized)."""

    @classmethod
    def from_json(cls, j: JSON) -> PoolOut:
        return cls(
            name=j["name"],
            description=j["description"],
            tags=tuple(TagOut.from_json(t) for t in j["tags"]),
            max=j["max"],
            max_starting=j["max_starting"],
            max_prealloc=j["max_prealloc"],
            counts=dict(j["counts"]),
            tags_on_demand=tuple(TagOut.from_json(t) for t in j.get("tags_on_demand", ())),
            priority=j.get("priority", 0),
            drained=j.get("drained", False),
            drain_reason=j.get("drain_reason", ""),
            removed=j.get("removed", False),
            failing=j.get("failing", False),
            start_failures=j.get("start_failures", 0),
            last_failure=j.get("last_failure", ""),
            start_for_waiting=j.get("start_for_waiting", False),
            spares=j.get("spares", j["max_prealloc"]),
            target_wait_p95=j.get("target_wait_p95"),
            min_prealloc=j.get("min_prealloc", 0),
            cost_per_hour=j.get("cost_per_hour", 0.0),
            spares_reason=j.get("spares_reason", ""),
            spares_wait_p95=j.get("spares_wait_p95"),
        )


class ReloadOut(NamedTuple):
    pools: tuple[str, ...]
    added: tuple[str, ...]
    removed: tuple[str, ...]
    """Drained until their last resource is deleted."""
    changed: tuple[str, ...]

    @classmethod
    def from_json(cls, j: JSON) -> ReloadOut:
        return cls(
            pools=tuple(j["pools"]),
            added=tuple(j["added"]),
            removed=tuple(j["removed"]),
            changed=tuple(j["changed"]),
        )


class EventOut(NamedTuple):
    id: int
    """Increases with every event; a stream resumes after it."""
    at: datetime
    kind: str
    ticket_id: int | None
    resource_id: int | None
    pool: str | None
    message: str
    details: dict[str, Any]

    @classmethod
    def from_json(cls, j: JSON) -> EventOut:
        return cls(
            id=j["id"],
            at=_required_time(j["at"]),
            kind=j["kind"],
            ticket_id=j["ticket_id"],
            resource_id=j["resource_id"],
            pool=j["pool"],
            message=j["message"],
            details=dict(j["details"]),
        )
