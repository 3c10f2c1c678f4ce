"""A fast lane for the two requests of every ticket's life: open it, close it.

FastAPI's routing, dependency solving and response validation cost a few
hundred microseconds a request on the test machine, more than opening or
closing a ticket itself. This ASGI middleware serves exactly
`POST /api/v1/tickets` with a valid body and `POST /api/v1/tickets/{id}/close`
by calling the very endpoint functions of `api/v1.py` (same use case, same
schemas, same status codes), and renders their errors as the app does.
Everything else, a body that does not validate included, goes on to FastAPI
untouched (the body replayed), so its answers and the OpenAPI document stay
the reference.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from lessor.api import errors, v1
from lessor.api.schemas import TicketIn

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_CLOSE = re.compile(r"/api/v1/tickets/([0-9]{1,18})/close")


class FastLane:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path == "/api/v1/tickets":
            body = await _body(receive)
            try:
                ticket_in = TicketIn.model_validate_json(body or b"null")
            except ValidationError:  # FastAPI says what is wrong, as ever
                await self.app(scope, _replay(body, receive), send)
                return
            await _answer(
                send, v1.OPEN_STATUS, lambda: v1.open_ticket(ticket_in, Request(scope, receive))
            )
            return
        closing = _CLOSE.fullmatch(path)
        if closing is None:
            await self.app(scope, receive, send)
            return
        await _body(receive)  # closing takes none; what was sent is read and ignored
        ticket_id = int(closing.group(1))
        await _answer(send, 200, lambda: v1.close_ticket(ticket_id, Request(scope, receive)))


async def _answer(send: Send, status: int, endpoint: Callable[[], Awaitable[BaseModel]]) -> None:
    try:
        out = await endpoint()
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


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            return b""
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands FastAPI the body this lane has already read, then goes on."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed
