"""JSON API v1: each handler parses, calls one use case, renders."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from lessor.api.auth import Admin
from lessor.api.schemas import ErrorOut, PoolOut, ResourceOut, TicketIn, TicketOut
from lessor.domain.model import Ticket
from lessor.domain.states import ResourceState, TicketState
from lessor.service.core import LessorService

MAX_WAIT = 300.0
"""Longest a single long-poll may hang; clients simply ask again."""

router = APIRouter(prefix="/api/v1", responses={404: {"model": ErrorOut}, 422: {"model": ErrorOut}})


def _service(request: Request) -> LessorService:
    return request.app.state.service  # type: ignore[no-any-return]


def _render(service: LessorService, ticket: Ticket) -> TicketOut:
    resource = service.store.get_resource(ticket.resource_id) if ticket.resource_id else None
    return TicketOut.of(ticket, resource)


@router.post("/tickets", status_code=status.HTTP_201_CREATED, response_model=TicketOut)
def open_ticket(body: TicketIn, request: Request) -> TicketOut:
    """Ask for a resource whose tags include all of `tags`.

    Fails with 422, naming the tag, when no configured pool could ever serve it.
    """
    service = _service(request)
    return _render(service, service.open_ticket(body.tags, body.sandbox, body.priority))


@router.get("/tickets", response_model=list[TicketOut])
def list_tickets(
    request: Request, state: Annotated[list[TicketState] | None, Query()] = None
) -> list[TicketOut]:
    service = _service(request)
    return [_render(service, t) for t in service.list_tickets(state)]


@router.get("/tickets/{ticket_id}", response_model=TicketOut)
async def get_ticket(
    ticket_id: int,
    request: Request,
    wait: Annotated[float, Query(ge=0, description="seconds to wait for assignment")] = 0,
) -> TicketOut:
    """The ticket; with `wait`, answered the moment it leaves OPEN (or after `wait` s)."""
    service = _service(request)
    ticket = await service.wait_ticket(ticket_id, min(wait, MAX_WAIT))
    return _render(service, ticket)


@router.post("/tickets/{ticket_id}/close", response_model=TicketOut)
def close_ticket(ticket_id: int, request: Request) -> TicketOut:
    service = _service(request)
    return _render(service, service.close_ticket(ticket_id))


@router.get("/resources", response_model=list[ResourceOut])
def list_resources(
    request: Request,
    state: Annotated[list[ResourceState] | None, Query()] = None,
    pool: str | None = None,
    all: bool = Query(False, description="include ENDED resources"),
) -> list[ResourceOut]:
    states = state
    if states is None and not all:
        states = [s for s in ResourceState if s is not ResourceState.ENDED]
    return [ResourceOut.of(r) for r in _service(request).list_resources(states, pool)]


@router.get("/resources/{resource_id}", response_model=ResourceOut)
def get_resource(resource_id: int, request: Request) -> ResourceOut:
    return ResourceOut.of(_service(request).get_resource(resource_id))


@router.delete("/resources/{resource_id}", response_model=ResourceOut)
def delete_resource(resource_id: int, request: Request, _: Admin) -> ResourceOut:
    """Have cmd_delete run on the resource (admin)."""
    return ResourceOut.of(_service(request).delete_resource(resource_id))


@router.get("/pools", response_model=list[PoolOut])
def list_pools(request: Request) -> list[PoolOut]:
    return [PoolOut.of(s) for s in _service(request).pool_statuses()]
