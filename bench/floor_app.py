"""The HTTP floor: an ASGI app that answers every request at once with a ticket-sized JSON body.

Served by the same uvicorn, loop and settings as `lessor server`, and driven
by the same client, it measures what HTTP alone costs on this machine at
this moment; bench/ticket_latency.py reports lessor's figures against it, so
they can be compared across machines and across this VM's changes of speed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

BODY = (
    b'{"id":12345,"state":"ASSIGNED","tags":["reused"],"sandbox":"bench","priority":0,'
    b'"resource_id":17,"data":"10.0.0.2\\n","data_b64":"MTAuMC4wLjIK","message":"",'
    b'"created_at":"2026-12-01T20:00:00.000000Z","assigned_at":"2026-12-01T20:00:00.000100Z",'
    b'"closed_at":null,"ttl":null,"expires_at":null,"waiting_reason":null}'
)
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(
    scope: MutableMapping[str, Any],
    receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
    send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:  # the body, read as lessor reads it
        more = (await receive()).get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
