"""GET /api/v1/events: the event log, as a list or followed live with server-sent events.

A follower first gets the newest `limit` matching events (like `tail -f`),
then each new one as soon as it is committed. Every message carries the
event's id, so a client that reconnects with Last-Event-ID (browsers'
EventSource do so by themselves) misses nothing and repeats nothing.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse
from pydantic.json_schema import SkipJsonSchema

from lessor.api.deps import executor_of, service_of
from lessor.api.fields import FIRST_YEAR, LAST_YEAR, EventId, Id, Kind, Name, Time
from lessor.api.schemas import ErrorOut, EventOut
from lessor.domain.events import Event, EventFilter
from lessor.service.core import LessorService
from lessor.service.executor import Executor
from lessor.service.waiting import follow_events

HEARTBEAT = 15.0
"""Seconds between keep-alive comments on an idle stream."""

MAX_KINDS = 32
"""Kinds one filter may name: there are fewer kinds than that."""

router = APIRouter(prefix="/api/v1", tags=["events"], responses={422: {"model": ErrorOut}})


def _filter(
    ticket: Annotated[Id | None, Query(description="events of this ticket")] = None,
    resource: Annotated[Id | None, Query(description="events of this resource")] = None,
    pool: Annotated[Name | None, Query(description="events of this pool")] = None,
    kind: Annotated[
        list[Kind] | None, Query(max_length=MAX_KINDS, description="only these kinds (repeatable)")
    ] = None,
    since: Annotated[
        Time | None,
        Query(
            description=f"events at or after this time (ISO 8601, the years {FIRST_YEAR} to "
            f"{LAST_YEAR}; without a zone, the server's)"
        ),
    ] = None,
    after: Annotated[EventId | None, Query(description="only events after this id")] = None,
    limit: Annotated[
        int, Query(ge=0, le=10_000, description="the newest N; when following, the backlog")
    ] = 100,
) -> EventFilter:
    return EventFilter(
        ticket_id=ticket,
        resource_id=resource,
        pool=pool,
        kinds=tuple(kind or ()),
        since=since.timestamp() if since is not None else None,
        after_id=after,
        limit=limit,
    )


Filter = Annotated[EventFilter, Depends(_filter)]
LastEventId = Annotated[
    # a header is there or not: "null" is no value it can have
    EventId | SkipJsonSchema[None],
    Header(description="resume a stream after this id"),
]


@router.get(
    "/events",
    response_model=list[EventOut],
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "the events; with `follow`, then every new one (text/event-stream)",
        }
    },
)
async def list_events(
    request: Request,
    f: Filter,
    last_event_id: LastEventId = None,
    follow: Annotated[bool, Query(description="stream new events (text/event-stream)")] = False,
) -> list[EventOut] | StreamingResponse:
    """The newest matching events, oldest first; with `follow`, then every new one live."""
    if follow:
        return await _stream(service_of(request), executor_of(request), f, last_event_id)
    if f.limit == 0:
        return []
    events = await asyncio.to_thread(service_of(request).list_events, f)
    return [EventOut.of(e) for e in events]


@router.get(
    "/events/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream_events(
    request: Request, f: Filter, last_event_id: LastEventId = None
) -> StreamingResponse:
    """Server-sent events: the same as `GET /events?follow=1`."""
    return await _stream(service_of(request), executor_of(request), f, last_event_id)


async def _stream(
    service: LessorService, executor: Executor, f: EventFilter, last_event_id: int | None
) -> StreamingResponse:
    if last_event_id is not None:  # a reconnect: exactly what came after
        backlog: list[Event] = []
        after = last_event_id
    elif f.after_id is not None:
        backlog = await asyncio.to_thread(service.list_events, f) if f.limit else []
        after = backlog[-1].id if backlog else f.after_id
    else:
        backlog = await asyncio.to_thread(service.list_events, f) if f.limit else []
        after = backlog[-1].id if backlog else await asyncio.to_thread(_newest_id, service)

    async def messages() -> AsyncIterator[str]:
        yield "retry: 2000\n\n"
        for e in backlog:
            yield _message(e)
        following = follow_events(executor, service, f.evolve(after_id=after), HEARTBEAT)
        async for batch in following:
            if not batch:
                yield ": keep-alive\n\n"
            for e in batch:
                yield _message(e)

    return StreamingResponse(
        messages(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _newest_id(service: LessorService) -> int:
    newest = service.list_events(EventFilter(limit=1))
    return newest[-1].id if newest else 0


_RENDERED: OrderedDict[int, str] = OrderedDict()
"""The last messages rendered, by event id: every follower of an event sends the same
bytes, rendered once rather than once per follower (an event never changes)."""
RENDERED_KEPT = 4096


def _message(e: Event) -> str:
    message = _RENDERED.get(e.id)
    if message is None:
        data = json.dumps(EventOut.of(e).model_dump(mode="json"), separators=(",", ":"))
        message = _RENDERED[e.id] = f"id: {e.id}\ndata: {data}\n\n"
        if len(_RENDERED) > RENDERED_KEPT:
            _RENDERED.popitem(last=False)
    return message
