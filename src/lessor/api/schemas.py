"""JSON shapes of API v1; the OpenAPI document is generated from these."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field

from lessor.api.fields import Priority, Reason, Sandbox, Tags, Ttl
from lessor.domain.events import Event
from lessor.domain.model import Resource, Ticket
from lessor.domain.states import ResourceState, TicketState
from lessor.service.core import PoolStatus


def _time(t: float | None) -> datetime | None:
    return datetime.fromtimestamp(t, UTC) if t is not None else None


def _text(data: bytes | None) -> str | None:
    return data.decode(errors="replace") if data is not None else None


class In(BaseModel):
    """A request body: a field it does not know is an error naming it, never ignored."""

    model_config = ConfigDict(extra="forbid")


class TicketIn(In):
    tags: Tags = Field(examples=[["fake", "x86_64"]])  # served by examples/pools.yaml
    sandbox: Sandbox | None = Field(
        None, description="only resources released by this sandbox are reused"
    )
    priority: Priority = Field(0, description="higher is served first")
    ttl: Ttl | None = Field(
        None,
        description="lease, seconds: the ticket is closed unless extended "
        "(POST /api/v1/tickets/ID/extend) within this time",
    )


class TicketOut(BaseModel):
    id: int
    state: TicketState
    tags: list[str]
    sandbox: str | None
    priority: int
    resource_id: int | None
    data: str | None = Field(
        description="what the pool's cmd_new printed, once assigned; a secret_data pool's "
        "only with the ticket's key (Lessor-Ticket-Key) while the ticket is not closed"
    )
    data_b64: str | None = Field(description="the same bytes, base64, for binary data")
    message: str
    created_at: datetime
    assigned_at: datetime | None
    closed_at: datetime | None
    ttl: float | None = Field(None, description="lease in seconds; null: until closed")
    expires_at: datetime | None = Field(None, description="closed then unless extended")
    waiting_reason: str | None = Field(
        None,
        description="why an OPEN ticket has no resource yet",
        examples=["pool aws: 5/5 at max; pool local: starting 1 for you"],
    )

    @classmethod
    def of(
        cls, t: Ticket, data: bytes | None, waiting_reason: str | None = None, **more: str
    ) -> Self:
        """The ticket, with the data the caller may see (service.data_for); `more`: the
        fields of a subclass."""
        return cls(
            id=t.id,
            state=t.state,
            tags=list(t.tags),
            sandbox=t.sandbox,
            priority=t.priority,
            resource_id=t.resource_id,
            data=_text(data),
            data_b64=base64.b64encode(data).decode() if data is not None else None,
            message=t.message,
            created_at=_time(t.created_at),  # type: ignore[arg-type]
            assigned_at=_time(t.assigned_at),
            closed_at=_time(t.closed_at),
            ttl=t.ttl,
            expires_at=_time(t.expires_at),
            waiting_reason=waiting_reason,
            **more,
        )


class OpenedTicketOut(TicketOut):
    """A ticket as the request that opened it is answered: with its key, told this once."""

    key: str = Field(
        description="proves its holder: send it as Lessor-Ticket-Key to close or extend the "
        "ticket and to read a secret pool's data; kept nowhere (only its hash is)"
    )


class ResourceOut(BaseModel):
    id: int
    name: str
    pool: str
    state: ResourceState
    tags: list[str]
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
    hold_reason: str | None = Field(
        None, description="set while an admin holds it: never assigned, never deleted"
    )
    reserved_for: int | None = Field(
        None, description="the ticket an on-demand resource is being started for"
    )

    @classmethod
    def of(cls, r: Resource, hide_data: bool = False) -> ResourceOut:
        return cls(
            id=r.id,
            name=r.name,
            pool=r.pool,
            state=r.state,
            tags=list(r.tags),
            data=None if hide_data else _text(r.data),
            ticket_id=r.ticket_id,
            sandbox=r.sandbox,
            id_in_pool=r.id_in_pool,
            releases=r.releases,
            livecheck_failures=r.livecheck_failures,
            delete_attempts=r.delete_attempts,
            message=r.message,
            created_at=_time(r.created_at),  # type: ignore[arg-type]
            state_since=_time(r.state_since),  # type: ignore[arg-type]
            last_livecheck=_time(r.last_livecheck),
            hold_reason=r.hold_reason,
            reserved_for=r.reserved_for,
        )


class TagOut(BaseModel):
    name: str
    priority: int


class PoolOut(BaseModel):
    name: str
    description: str
    tags: list[TagOut]
    max: int
    max_starting: int
    max_prealloc: int
    counts: dict[ResourceState, int] = Field(description="live resources per state")
    tags_on_demand: list[TagOut] = []
    priority: int = Field(0, description="higher is cheaper: used first")
    drained: bool = Field(False, description="no new resources; spares deleted")
    drain_reason: str = ""
    removed: bool = Field(False, description="gone from pools.yaml; drains until empty")
    failing: bool = Field(
        False, description="its last start failed: it backs off before the next (start_backoff)"
    )
    start_failures: int = Field(0, description="failed starts in a row")
    last_failure: str = Field(
        "", description="what the last failed cmd_new said, and the end of its log"
    )
    start_for_waiting: bool = Field(
        False, description="also starts resources for waiting tickets beyond max_prealloc"
    )
    spares: int = Field(0, description="the spares it keeps now (target_wait sizes them)")
    target_wait_p95: float | None = Field(
        None, description="seconds 95 % of tickets may wait; spares are sized to meet it"
    )
    min_prealloc: int = Field(0, description="the floor of sized spares")
    cost_per_hour: float = Field(0.0, description="what one resource costs an hour")
    spares_reason: str = Field("", description="why it keeps that many spares now")
    spares_wait_p95: float | None = Field(
        None, description="the p95 wait (seconds) forecast with the spares it keeps now"
    )

    @classmethod
    def of(cls, s: PoolStatus) -> PoolOut:
        p = s.pool
        return cls(
            name=p.name,
            description=p.description,
            tags=[TagOut(name=t.name, priority=t.priority) for t in p.tags],
            max=p.max,
            max_starting=p.max_starting,
            max_prealloc=p.max_prealloc,
            tags_on_demand=[TagOut(name=t.name, priority=t.priority) for t in p.tags_on_demand],
            priority=p.priority,
            drained=p.drained,
            drain_reason=p.drain_reason,
            removed=p.removed,
            failing=p.failing,
            start_failures=p.start_failures,
            last_failure=p.last_failure,
            start_for_waiting=p.start_for_waiting,
            spares=0 if p.tags_on_demand or p.drained else p.prealloc,
            target_wait_p95=p.target_wait_p95,
            min_prealloc=p.min_prealloc,
            cost_per_hour=p.cost_per_hour,
            spares_reason=p.spares_reason if p.target_wait_p95 is not None else "",
            spares_wait_p95=p.spares_wait if p.target_wait_p95 is not None else None,
            counts={
                state: s.counts.get(state, 0)
                for state in ResourceState
                if state is not ResourceState.ENDED
            },
        )


class ErrorOut(BaseModel):
    detail: str


REFUSALS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (401, 403, 404, 409, 422)
}
"""The refusals a router of protected, state-changing operations documents, all ErrorOut."""

MAX_WAIT = 300.0
"""Longest a single long-poll may hang; clients simply ask again."""


class ExtendIn(In):
    ttl: Ttl | None = Field(None, description="seconds from now; by default the ticket's own TTL")


class ReasonIn(In):
    reason: Reason = Field("", examples=["kernel panic; keep it for a look"])


class ReloadOut(BaseModel):
    pools: list[str]
    added: list[str]
    removed: list[str] = Field(description="drained until their last resource is deleted")
    changed: list[str]


class EventOut(BaseModel):
    id: int = Field(description="increases with every event; resume a stream after it")
    at: datetime
    kind: str = Field(examples=["ticket.assigned", "hook.finished"])
    ticket_id: int | None
    resource_id: int | None
    pool: str | None
    message: str = Field(description="the cause, in words")
    details: dict[str, Any]

    @classmethod
    def of(cls, e: Event) -> EventOut:
        return cls(
            id=e.id,
            at=_time(e.at),  # type: ignore[arg-type]
            kind=str(e.kind),
            ticket_id=e.ticket_id,
            resource_id=e.resource_id,
            pool=e.pool,
            message=e.message,
            details=dict(e.details),
        )
