"""resalloc's client protocol: XML-RPC on the API's own port, at `/RPC2` and `/`.

The resalloc client (`resalloc ticket …`, `resalloc.client.Connection`, and
Copr's builders that embed it) calls `xmlrpc.client.ServerProxy(url)` with
positional arguments only. What it depends on, beyond the method names:
ticket ids come as int or as numeric strings (the CLI passes argv through),
resource data travels as `<base64>` (it calls `str()` on the Binary), `<nil/>`
is allowed in both directions, and a closed ticket still yields its data.
Calls are `text/xml` and at most 1 MiB (api/guards.py); their tags and
sandbox are held to the limits of the JSON API (api/fields.py), and an id
beyond what the store holds is no such ticket.
The client retries every fault for ever, so whatever resalloc accepts is
accepted here too: tags no pool provides (the ticket waits, saying why), no
tags at all, a wait on a ticket that will never get a resource.

Marshalling is the standard library's; only the dispatch is ours, so that
`waitTicket` can wait on the event loop (woken the moment its ticket is
assigned) instead of holding a thread per waiting client as resalloc does.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from xmlrpc.client import Binary, Fault, dumps, loads

from fastapi import APIRouter, Request, Response
from pydantic import TypeAdapter, ValidationError

from lessor.api.deps import executor_of, service_of
from lessor.api.fields import ResallocTags, Sandbox
from lessor.api.guards import BodyTooLarge
from lessor.domain.model import Ticket
from lessor.domain.states import TicketState
from lessor.domain.values import MAX_ID
from lessor.service.core import LessorService, TicketAndResource
from lessor.service.errors import NotFound, ServiceError
from lessor.service.executor import Executor
from lessor.service.keys import RESALLOC
from lessor.service.waiting import wait_ticket

log = logging.getLogger(__name__)

FAULT = 1
"""The fault code resalloc's server (SimpleXMLRPCServer) sends for every error."""

OFF = (
    "resalloc's XML-RPC is turned off on this server (server.yaml: xmlrpc: false): "
    "use lessor's API (lessor ticket …)"
)

WAIT_STEP = 30.0
"""Seconds between checks that a client blocked in waitTicket is still connected."""

RESALLOC_EXCEPTION = "<class 'resallocserver.api.ServerAPIException'>:"
"""How resalloc's faults begin (the exception's class, then its message): the client prints
the fault on every retry, and an operator may know it by that."""

router = APIRouter(include_in_schema=False)

Method = Callable[..., Awaitable[Any]]
T = TypeVar("T")


class RpcError(Exception):
    """An error reported to the caller as an XML-RPC fault with this message."""


def _ticket_id(value: object) -> int:
    """resalloc's CLI sends ids as the strings it got on its command line."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise RpcError(f"ticket id must be an integer, got {value!r}")


def _stored(ticket_id: int) -> int:
    """The id, if a ticket can have it; no ticket has one beyond what the store holds."""
    if not 0 < ticket_id <= MAX_ID:
        raise NotFound(f"no such ticket {ticket_id}")
    return ticket_id


_TAGS, _SANDBOX = TypeAdapter(ResallocTags), TypeAdapter(Sandbox)


def _within(limits: TypeAdapter[T], name: str, value: object) -> T:
    """The value, if within the limits the JSON API holds it to (api/fields.py)."""
    try:
        return limits.validate_python(value, strict=True)
    except ValidationError as e:
        error = e.errors()[0]
        where = ".".join([name, *(str(p) for p in error["loc"])])
        raise RpcError(f"{where}: {error['msg']}") from e


def _no_such_ticket(ticket_id: int) -> RpcError:
    return RpcError(f"{RESALLOC_EXCEPTION}no such ticket {ticket_id}")


class ResallocApi:
    """The four methods of resalloc's ServerAPI, over the service's use cases."""

    def __init__(self, service: LessorService, executor: Executor, request: Request) -> None:
        self.service = service
        self.executor = executor
        self.request = request

    async def takeTicket(self, tags: object = None, sandbox: object = None) -> int:  # noqa: N802
        """takeTicket([tags[, sandbox]]) -> ticket id: ask for a resource having all the tags.

        As resalloc's: the tags are taken as sent (no tag fits any resource),
        and a ticket for tags no pool provides waits, saying so, until a
        reload of pools.yaml adds a pool that does. Tags that are not strings
        are refused, and a tag sent twice counts once (resalloc fails on both).
        """
        tags = [] if tags is None else tags
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise RpcError(f"tags must be a list of strings, got {tags!r}")
        if sandbox is not None and not isinstance(sandbox, str):
            raise RpcError(f"sandbox must be a string, got {sandbox!r}")
        _within(_TAGS, "tags", tags)
        if sandbox is not None:
            _within(_SANDBOX, "sandbox", sandbox)
        held = await self.executor.run_grouped(
            self.service.open_ticket,
            tags,
            sandbox or None,
            refuse_unservable=False,
            tidy_tags=False,
        )
        return held.ticket.id

    async def collectTicket(self, ticket_id: object) -> dict[str, Any]:  # noqa: N802
        """collectTicket(id) -> {ready, output, closed, failed}; ready is nil for no such ticket."""
        tid = _ticket_id(ticket_id)
        try:
            ticket = await self.executor.run(self.service.get_ticket, _stored(tid))
        except NotFound:
            return {"ready": None, "output": None, "closed": None, "failed": None}
        data = await self._data(ticket)
        return {
            "ready": ticket.resource_id is not None,
            "output": Binary(data) if data is not None else None,
            "closed": ticket.state is TicketState.CLOSED,
            "failed": ticket.state is TicketState.FAILED,
        }

    async def waitTicket(self, ticket_id: object) -> Binary:  # noqa: N802
        """waitTicket(id) -> data: blocks until the ticket has a resource, answered at once then.

        A ticket closed or failed without one never gets one; resalloc's
        waitTicket blocks on it all the same, and so does this (lessor's own
        CLI and API say why instead).
        """
        tid = _ticket_id(ticket_id)
        while True:
            try:
                ticket = await wait_ticket(self.executor, self.service, _stored(tid), WAIT_STEP)
            except NotFound as e:
                raise _no_such_ticket(tid) from e
            if ticket.resource_id is not None:
                return Binary(await self._data(ticket) or b"")
            if self.service.signals.stopping:  # resalloc's client asks again, of the next one
                raise RpcError(f"the server is stopping; ticket {tid} still waits: ask again")
            if ticket.state is not TicketState.OPEN:
                await asyncio.sleep(WAIT_STEP)  # no change can come: only see who still waits
            if await self.request.is_disconnected():
                return Binary(b"")  # nobody is listening any more

    async def closeTicket(self, ticket_id: object) -> None:  # noqa: N802
        """closeTicket(id): give the resource back; fault 1 for no such ticket."""
        tid = _ticket_id(ticket_id)
        try:
            await self.executor.run_grouped(self.service.close_ticket, _stored(tid), RESALLOC)
        except NotFound as e:
            raise _no_such_ticket(tid) from e

    async def _data(self, ticket: Ticket) -> bytes | None:
        """The ticket's data as resalloc's clients may have it: a secret pool's only where the
        server allows it (they carry no key)."""
        resource = await self.executor.run(self.service.resource_of, ticket)
        return self.service.data_for(TicketAndResource(ticket, resource), RESALLOC)

    def methods(self) -> dict[str, Method]:
        found: dict[str, Method] = {
            name: getattr(self, name)
            for name in ("takeTicket", "collectTicket", "waitTicket", "closeTicket")
        }
        found["system.listMethods"] = self._list_methods
        found["system.methodHelp"] = self._method_help
        found["system.methodSignature"] = self._method_signature
        return found

    async def _list_methods(self) -> list[str]:
        """system.listMethods() -> the names of the methods this server offers."""
        return sorted(self.methods())

    async def _method_help(self, name: object) -> str:
        """system.methodHelp(name) -> what the method does."""
        method = self.methods().get(str(name))
        return (inspect.getdoc(method) or "") if method else ""

    async def _method_signature(self, name: object) -> str:
        """system.methodSignature(name) -> not supported (as Python's own XML-RPC servers)."""
        return "signatures not supported"


def _reply(value: Any) -> Response:
    body = dumps(
        value if isinstance(value, Fault) else (value,), methodresponse=True, allow_none=True
    )
    return Response(body, media_type="text/xml")


@router.post("/RPC2")
@router.post("/")
async def xmlrpc(request: Request) -> Response:
    """One XML-RPC call: errors are faults in a 200 answer, as XML-RPC wants them."""
    try:
        params, name = loads(await request.body())
    except BodyTooLarge as e:  # reported where resalloc's client shows it: a fault
        return _reply(Fault(FAULT, str(e.detail)))
    except Exception as e:  # any malformed body, whatever the parser raises
        return _reply(Fault(FAULT, f"not an XML-RPC call: {e}"))
    service = service_of(request)
    if not service.access.resalloc_xmlrpc:
        return _reply(Fault(FAULT, OFF))
    api = ResallocApi(service, executor_of(request), request)
    method = api.methods().get(name or "")
    if method is None:
        return _reply(Fault(FAULT, f'method "{name}" is not supported'))
    try:
        inspect.signature(method).bind(*params)
    except TypeError as e:
        return _reply(Fault(FAULT, f"{name}: {e}"))
    try:
        return _reply(await method(*params))
    except (RpcError, ServiceError) as e:
        return _reply(Fault(FAULT, str(e)))
    except Exception as e:
        log.exception("XML-RPC %s failed", name)
        return _reply(Fault(FAULT, f"internal error ({type(e).__name__}); see the server log"))
