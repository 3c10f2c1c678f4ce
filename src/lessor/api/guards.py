"""What a request that changes state must show before any endpoint sees it.

A web page can make a browser send a POST anywhere without asking first, as
long as it looks like a form (`application/x-www-form-urlencoded`,
`multipart/form-data`, `text/plain`, or no body); anything else is
preflighted, and lessor answers no preflight. So every POST, PUT, PATCH and
DELETE under `/api/`:

- with a body, declares it `application/json` (else 415): no page can send one
  cross-site without the browser asking first;
- from a browser (an `Origin` header), comes from the server's own origin,
  `scheme://host[:port]` of the request's `Host`, or one of `allowed_origins`
  (else 403). Callers that send no `Origin` (the CLI, curl, resalloc's
  client) are let through.

XML-RPC calls (`POST /`, `POST /RPC2`) declare an XML body (`text/xml`, what
Python's xmlrpc.client sends, or `application/xml`), for the same reason.

Every body is read at most up to MAX_BODY: a larger declared one is refused
before it is read (413), one that grows past it while streaming stops being
read there (`BodyTooLarge`; XML-RPC answers it with a fault).

The checks are a scan of the request's headers, so that the fast lane (which
answers its two requests before FastAPI) runs them too at a few lookups' cost.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from starlette.exceptions import HTTPException

from lessor.api.schemas import ErrorOut

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY = 1024 * 1024
"""Bytes of a request body, JSON or XML-RPC: a ticket's is a few hundred."""

CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
XMLRPC_PATHS = frozenset({"/", "/RPC2"})
JSON = b"application/json"
XML = frozenset({b"text/xml", b"application/xml"})
_DEFAULT_PORT = {"http": b":80", "https": b":443"}


class BodyTooLarge(HTTPException):
    """request body too large: at most MAX_BODY bytes"""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body too large: at most {limit} bytes")


@dataclass(frozen=True)
class Refusal:
    """A request answered by the guard itself: the status and why."""

    status: int
    detail: str

    async def answer(self, send: Send) -> None:
        body = json.dumps({"detail": self.detail}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": self.status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


@dataclass(frozen=True)
class Guard:
    """The checks, with what a deployment may set: origins besides the server's own."""

    allowed_origins: frozenset[bytes] = frozenset()
    """`scheme://host[:port]` of pages allowed to change state (e.g. behind a proxy)."""
    max_body: int = MAX_BODY

    @classmethod
    def of(cls, allowed_origins: Iterable[str] = (), max_body: int = MAX_BODY) -> Guard:
        origins = frozenset(o.strip().rstrip("/").lower().encode() for o in allowed_origins)
        return cls(origins, max_body)

    def refusal(self, scope: Scope) -> Refusal | None:
        """Why this request is refused before any endpoint runs; None if it may go on."""
        path = scope["path"]
        xmlrpc = path in XMLRPC_PATHS
        if scope["method"] not in CHANGING or not (xmlrpc or path.startswith("/api/")):
            return None
        content_type = origin = host = length = None
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value
            elif name == b"origin":
                origin = value
            elif name == b"host":
                host = value
            elif name == b"content-length":
                length = value
            elif name == b"transfer-encoding":
                chunked = True
        if origin is not None:
            own = _origin(scope["scheme"], host)
            if origin.lower() != own and origin.lower() not in self.allowed_origins:
                return Refusal(403, f"origin {_text(origin)} may not change state on {_text(own)}")
        media = None if content_type is None else content_type.partition(b";")[0].strip().lower()
        if xmlrpc:
            if media not in XML:
                return Refusal(415, f"{_got(content_type)}: XML-RPC calls send text/xml")
            return None  # too large: a fault, from the endpoint (see `receive`)
        if media != JSON and (media is not None or chunked or length not in (None, b"0")):
            return Refusal(415, f"{_got(content_type)}: a request body is application/json")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            return Refusal(413, str(BodyTooLarge(self.max_body).detail))
        return None

    def receive(self, scope: Scope, receive: Receive) -> Receive:
        """`receive`, stopped with BodyTooLarge once the body grows past max_body."""
        limit = self.max_body
        declared = next(
            (int(v) for k, v in scope["headers"] if k == b"content-length" and v.isdigit()), 0
        )
        size = 0

        async def capped() -> Message:
            nonlocal size
            if declared > limit:  # refused before a byte of it is read
                raise BodyTooLarge(limit)
            message = await receive()
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > limit:
                    raise BodyTooLarge(limit)
            return message

        return capped


def _origin(scheme: str, host: bytes | None) -> bytes:
    """The server's own origin as a browser writes it: no default port."""
    host = (host or b"").lower()
    default = _DEFAULT_PORT.get(scheme)
    if default is not None and host.endswith(default):
        host = host[: -len(default)]
    return scheme.encode() + b"://" + host


def _text(value: bytes) -> str:
    return value.decode("latin-1")


def _got(content_type: bytes | None) -> str:
    return "no Content-Type" if content_type is None else f"Content-Type {_text(content_type)}"


class Guarded:
    """ASGI middleware of the app: the guard (app.state.guard) before every route."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in CHANGING:
            await self.app(scope, receive, send)
            return
        guard: Guard = scope["app"].state.guard
        refused = guard.refusal(scope)
        if refused is not None:
            await refused.answer(send)
            return
        await self.app(scope, guard.receive(scope, receive), send)


REFUSALS = {
    403: "a page of another origin may not change state",
    413: f"the body is over {MAX_BODY} bytes",
    415: "a body that is not application/json",
}
"""What the guard answers instead of an endpoint, for the OpenAPI document."""


def install(app: FastAPI, allowed_origins: Iterable[str] = ()) -> None:
    """Put the guard in front of the app's routes, and its answers in the OpenAPI document.

    The fast lane in front of the app finds the same guard in `app.state.guard`.
    """
    app.state.guard = Guard.of(allowed_origins)
    app.add_middleware(Guarded)
    plain = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            for path, operations in plain()["paths"].items():
                for method, operation in operations.items():
                    if path.startswith("/api/") and method.upper() in CHANGING:
                        for status, why in REFUSALS.items():
                            operation["responses"].setdefault(str(status), _error(why))
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


def _error(description: str) -> dict[str, Any]:
    schema = {"$ref": f"#/components/schemas/{ErrorOut.__name__}"}
    return {"description": description, "content": {"application/json": {"schema": schema}}}
