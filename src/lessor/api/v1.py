"""JSON API v1: each handler parses, calls one use case, renders."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response, status

from lessor.api.auth import Admin, is_admin, proof_of
from lessor.api.deps import executor_of, service_of
from lessor.api.fields import Id, Name, RequestKey, Seconds
from lessor.api.paging import NEXT_PAGE, After, Limit, link_next
from lessor.api.schemas import (
    MAX_WAIT,
    ErrorOut,
    OpenedTicketOut,
    PoolOut,
    ResourceOut,
    TicketIn,
    TicketOut,
)
from lessor.domain.model import Resource
from lessor.domain.paging import DEFAULT_LIMIT, Page
from lessor.domain.states import ResourceState, TicketState
from lessor.service.core import LessorService, TicketAndResource
from lessor.service.keys import Proof
from lessor.service.waiting import wait_ticket

OPEN_STATUS = status.HTTP_201_CREATED

router = APIRouter(prefix="/api/v1", responses={404: {"model": ErrorOut}, 422: {"model": ErrorOut}})


def _render(
    service: LessorService, held: TicketAndResource, proof: Proof, reason: str | None = None
) -> TicketOut:
    """A ticket, with the data this caller may see (a secret pool's only for its holder);
    `reason`: why it is still OPEN, when known."""
    return TicketOut.of(held.ticket, service.data_for(held, proof), waiting_reason=reason)


def _resource(request: Request, r: Resource) -> ResourceOut:
    """A resource; its data only for the admin if its pool keeps data secret, and a
    credential's for no one (its ticket's holder reads it from the ticket)."""
    service = service_of(request)
    hide = service.data_is_secret(r.pool) and (
        not is_admin(request) or service.data_is_owners_only(r.pool)
    )
    return ResourceOut.of(r, hide_data=hide)


@router.post("/tickets", status_code=OPEN_STATUS, response_model=OpenedTicketOut)
async def open_ticket(
    body: TicketIn,
    request: Request,
    idempotency_key: Annotated[
        RequestKey,
        Header(description="a retried open with the same key answers the same ticket"),
    ] = "",
) -> OpenedTicketOut:
    """Ask for a resource whose tags include all of `tags`; the answer holds the ticket's
    `key`, told this once.

    Fails with 422, naming the tag, when no configured pool could ever serve it.
    With `ttl`, the ticket is a lease: closed unless extended in time.
    """
    service = service_of(request)
    held = await executor_of(request).run_grouped(
        service.open_ticket,
        body.tags,
        body.sandbox,
        body.priority,
        ttl=body.ttl,
        idempotency_key=idempotency_key or None,
        owner=proof_of(request).user,
    )
    assert held.key is not None
    # the answer goes to the ticket's holder, and a ticket just opened is not closed:
    # its data, a secret pool's too (service.data_for's rule)
    data = held.resource.data if held.resource is not None else None
    return OpenedTicketOut.of(held.ticket, data, key=held.key)


@router.get("/tickets", response_model=list[TicketOut], responses=NEXT_PAGE)
def list_tickets(
    request: Request,
    response: Response,
    state: Annotated[list[TicketState] | None, Query()] = None,
    limit: Limit = DEFAULT_LIMIT,
    after: After = None,
) -> list[TicketOut]:
    """Tickets in id order, one page at a time (the Link header names the next)."""
    service = service_of(request)
    tickets = service.list_tickets(state, Page(limit, after))
    link_next(request, response, tickets, limit)
    reasons = service.why_waiting(tickets)
    anyone = Proof()  # a listing is anyone's view of everyone's tickets
    return [
        _render(service, TicketAndResource(t, service.resource_of(t)), anyone, reasons.get(t.id))
        for t in tickets
    ]


@router.get("/tickets/{ticket_id}", response_model=TicketOut)
async def get_ticket(
    ticket_id: Id,
    request: Request,
    wait: Annotated[
        Seconds, Query(description=f"seconds to wait for assignment (at most {MAX_WAIT:g} count)")
    ] = 0,
) -> TicketOut:
    """The ticket; with `wait`, answered the moment it leaves OPEN (or after `wait` s).

    An OPEN ticket says why it waits (`waiting_reason`).
    """
    service, executor = service_of(request), executor_of(request)
    ticket = await wait_ticket(executor, service, ticket_id, min(wait, MAX_WAIT))
    resource = await executor.run(service.resource_of, ticket)
    # Why it waits is a plan of the whole database: in a worker, never on the loop that
    # serves every other ticket (a big snapshot takes a second to plan).
    waits = ticket.state is TicketState.OPEN
    reasons = await executor.run_in_worker(service.why_waiting, [ticket]) if waits else {}
    held = TicketAndResource(ticket, resource)
    return _render(service, held, proof_of(request), reasons.get(ticket.id))


@router.post(
    "/tickets/{ticket_id}/close",
    response_model=TicketOut,
    responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}},
)
async def close_ticket(ticket_id: Id, request: Request) -> TicketOut:
    """Close the ticket: its holder (Lessor-Ticket-Key) or an admin only."""
    service, proof = service_of(request), proof_of(request)
    held = await executor_of(request).run_grouped(service.close_ticket, ticket_id, proof)
    return _render(service, held, proof)


@router.get("/resources", response_model=list[ResourceOut], responses=NEXT_PAGE)
def list_resources(
    request: Request,
    response: Response,
    state: Annotated[list[ResourceState] | None, Query()] = None,
    pool: Name | None = None,
    all: bool = Query(False, description="include ENDED resources"),
    limit: Limit = DEFAULT_LIMIT,
    after: After = None,
) -> list[ResourceOut]:
    """Resources in id order, one page at a time (the Link header names the next)."""
    states = state
    if states is None and not all:
        states = [s for s in ResourceState if s is not ResourceState.ENDED]
    rows = service_of(request).list_resources(states, pool, Page(limit, after))
    link_next(request, response, rows, limit)
    return [_resource(request, r) for r in rows]


@router.get("/resources/{resource_id}", response_model=ResourceOut)
def get_resource(resource_id: Id, request: Request) -> ResourceOut:
    return _resource(request, service_of(request).get_resource(resource_id))


@router.delete("/resources/{resource_id}", response_model=ResourceOut)
def delete_resource(resource_id: Id, request: Request, _: Admin) -> ResourceOut:
    """Have cmd_delete run on the resource (admin)."""
    service = service_of(request)
    return ResourceOut.of(executor_of(request).call(service.delete_resource, resource_id))


@router.get("/pools", response_model=list[PoolOut])
def list_pools(request: Request) -> list[PoolOut]:
    return [PoolOut.of(s) for s in service_of(request).pool_statuses()]
