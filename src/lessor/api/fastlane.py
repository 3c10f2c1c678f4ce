"""A fast lane for the two requests of every ticket's life: open it, close it.

FastAPI's middleware, routing, dependency solving and response validation
cost a few hundred microseconds a request on the test machine, more than
opening or closing a ticket itself. This ASGI wrapper, put in front of the
app (`lessor server` serves `FastLane(app)`), answers exactly
`POST /api/v1/tickets` with a small valid body and
`POST /api/v1/tickets/{id}/close` by calling the very endpoint functions of
`api/v1.py` (same use case, same schemas, same status codes), and renders
their errors as the app does. It runs the guard's checks first, as the app's
middleware does (api/guards.py). Everything else, a body that does not
validate included, goes on to FastAPI untouched (the body replayed), so its
answers and the OpenAPI document stay the reference.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable

from fastapi import FastAPI
from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from lessor.api import errors, v1
from lessor.api.guards import Guard, Message, Receive, Scope, Send
from lessor.api.schemas import TicketIn
from lessor.domain.values import MAX_ID

_CLOSE = re.compile(rf"/api/v1/tickets/([0-9]{{1,{len(str(MAX_ID))}}})/close")

LANE_BODY = 64 * 1024
"""Bytes of a body the lane takes itself; a larger one is FastAPI's to judge (up to the
guard's MAX_BODY)."""


class FastLane:
    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.guard: Guard = app.state.guard  # what FastAPI's routes check, checked here too

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        opening = path == "/api/v1/tickets"
        closing = None if opening else _CLOSE.fullmatch(path)
        ticket_id = int(closing.group(1)) if closing is not None else 0
        ours = opening or 0 < ticket_id <= MAX_ID  # else FastAPI's 422 names the limit
        if scope["type"] != "http" or scope["method"] != "POST" or not ours:
            await self.app(scope, receive, send)
            return
        refused = self.guard.refusal(scope)
        if refused is not None:
            await refused.answer(send)
            return
        body, more = await _body(receive)
        if body is None:
            return  # the client went away: nobody to answer
        small = not more and len(body) <= LANE_BODY
        ticket_in = _ticket_in(body) if opening and small and _plain(scope) else None
        if not small or (opening and ticket_in is None):
            # too big, invalid, or with an Idempotency-Key to check: FastAPI's, as ever
            await self.app(scope, _replay(body, more, receive), send)
            return
        scope["app"] = self.app  # what Starlette sets, for the endpoints' Request
        request = Request(scope, receive)
        if ticket_in is not None:
            await _answer(send, v1.OPEN_STATUS, v1.open_ticket(ticket_in, request))
        else:
            await _answer(send, 200, v1.close_ticket(ticket_id, request))


def _plain(scope: Scope) -> bool:
    """An open without an Idempotency-Key (a retry must be looked up: FastAPI validates it)."""
    return all(name != b"idempotency-key" for name, _ in scope["headers"])


def _ticket_in(body: bytes) -> TicketIn | None:
    try:
        return TicketIn.model_validate_json(body or b"null")
    except ValidationError:
        return None


async def _answer(send: Send, status: int, endpoint: Awaitable[BaseModel]) -> None:
    try:
        out = await endpoint
    except Exception as exc:
        status, body = errors.rendered(exc)
    else:
        body = out.model_dump_json().encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _body(receive: Receive) -> tuple[bytes | None, bool]:
    """The body up to LANE_BODY or a little more, and whether the client has more to send.

    None when the client went away before it sent all of it.
    """
    chunks: list[bytes] = []
    size = 0
    more = True
    while more and size <= LANE_BODY:
        message = await receive()
        if message["type"] != "http.request":
            return None, False
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks), more


def _replay(body: bytes, more: bool, receive: Receive) -> Receive:
    """A `receive` that hands FastAPI the body this lane has read, then goes on.

    `more` is what the client said: a body whose last chunk the lane has
    read is replayed as complete, however large (or FastAPI would wait for
    a chunk that never comes).
    """
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": more}

    return replayed
