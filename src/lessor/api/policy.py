"""JSON API v1 of the allocation policy: lease renewal, holds, drains, reloading pools."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request

from lessor.api.auth import Admin, proof_of
from lessor.api.deps import executor_of, service_of
from lessor.api.fields import Id, Name
from lessor.api.schemas import (
    ErrorOut,
    ExtendIn,
    PoolOut,
    ReasonIn,
    ReloadOut,
    ResourceOut,
    TicketOut,
)
from lessor.service.core import LessorService, TicketAndResource

router = APIRouter(
    prefix="/api/v1",
    responses={
        404: {"model": ErrorOut},
        409: {"model": ErrorOut},
        422: {"model": ErrorOut},
    },
)


@router.post("/tickets/{ticket_id}/extend", response_model=TicketOut)
def extend_ticket(
    ticket_id: Id, request: Request, body: Annotated[ExtendIn | None, Body()] = None
) -> TicketOut:
    """Renew the ticket's lease: it now ends `ttl` seconds from now (default: its own TTL).

    The heartbeat of a ticket opened with a TTL; a ticket without one gets
    one. 409 once the ticket is closed (an expired one too). Its holder
    (Lessor-Ticket-Key) or an admin only.
    """
    service, proof = service_of(request), proof_of(request)
    ttl = body.ttl if body else None
    ticket = executor_of(request).call(service.extend_ticket, ticket_id, ttl, proof)
    held = TicketAndResource(ticket, service.resource_of(ticket))
    return TicketOut.of(ticket, service.data_for(held, proof))


@router.post("/resources/{resource_id}/hold", response_model=ResourceOut)
def hold_resource(
    resource_id: Id,
    request: Request,
    _: Admin,
    body: Annotated[ReasonIn | None, Body()] = None,
) -> ResourceOut:
    """Keep the resource as it is, for diagnosis: never assigned, never deleted (admin)."""
    reason = body.reason if body else ""
    service = service_of(request)
    return ResourceOut.of(executor_of(request).call(service.hold_resource, resource_id, reason))


@router.post("/resources/{resource_id}/unhold", response_model=ResourceOut)
def unhold_resource(resource_id: Id, request: Request, _: Admin) -> ResourceOut:
    """Release the hold: the usual rules apply to the resource again (admin)."""
    service = service_of(request)
    return ResourceOut.of(executor_of(request).call(service.unhold_resource, resource_id))


def _pool_out(service: LessorService, name: str) -> PoolOut:
    status = next(s for s in service.pool_statuses() if s.pool.name == name)
    return PoolOut.of(status)


@router.post("/pools/{name}/drain", response_model=PoolOut)
def drain_pool(
    name: Name,
    request: Request,
    _: Admin,
    body: Annotated[ReasonIn | None, Body()] = None,
) -> PoolOut:
    """No new resources, spares deleted, assigned ones kept until their tickets close (admin)."""
    service = service_of(request)
    executor_of(request).call(service.drain_pool, name, body.reason if body else "")
    return _pool_out(service, name)


@router.post("/pools/{name}/undrain", response_model=PoolOut)
def undrain_pool(name: Name, request: Request, _: Admin) -> PoolOut:
    service = service_of(request)
    executor_of(request).call(service.undrain_pool, name)
    return _pool_out(service, name)


@router.post("/reload", response_model=ReloadOut)
def reload_pools(request: Request, _: Admin) -> ReloadOut:
    """Read pools.yaml again without a restart (as SIGHUP does); a removed pool drains (admin).

    422 naming the file and line when it has an error; the pools in use stay.
    """
    service = service_of(request)
    done = executor_of(request).call(service.reload_pools)
    return ReloadOut(
        pools=[p.name for p in done.pools],
        added=list(done.added),
        removed=list(done.removed),
        changed=list(done.changed),
    )
