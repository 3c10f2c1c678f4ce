"""The app as `lessor server` serves it, called in-process: no sockets, no reconciler."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from lessor.api.fastlane import FastLane
from lessor.api.guards import ASGIApp, Guard
from lessor.domain.model import Pool, Tag
from lessor.server import Parts, api_app, build

POOLS = (
    Pool("p", tags=(Tag("x"),), reuse_opportunity_time=600.0),
    Pool("q", tags=(Tag("y"),), max=1),
)


def app_of(
    service: Parts,
    tmp: Path,
    lane: bool = True,
    admin_token: str | None = None,
    guard: Guard | None = None,
) -> ASGIApp:
    """The app as `lessor server` serves it (with the fast lane), or FastAPI alone."""
    app = api_app(service, tmp, admin_token)  # no lifespan: no reconciler, only the API
    if guard is not None:
        app.state.guard = guard
    return FastLane(app) if lane else app


def service_on(url: str) -> Parts:
    """A service with two spares in pool p and one (binary data) in pool q."""
    parts = build(url, POOLS)
    store = parts.store
    for pool, tag, data in (
        ("p", "x", b"10.0.0.1\n"),
        ("p", "x", b"10.0.0.2\n"),
        ("q", "y", b"\xff"),
    ):
        r = store.create_resource(pool, [tag], "{id}", 1.0)
        assert store.mark_up(r.id, data, time.time())
    return parts


async def call(
    app: ASGIApp,
    method: str,
    path: str,
    chunks: list[bytes],
    headers: list[tuple[bytes, bytes]] | None = None,
) -> tuple[int, Any]:
    """One request as uvicorn delivers it: the body in `chunks`, the last marked as such,
    then a `receive` that blocks until the answer is complete, as an open connection does.
    `headers`: by default those of a JSON body, with no Content-Length; Host: lessor
    unless they name one."""
    messages = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]
    answered = asyncio.Event()
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await answered.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            answered.set()

    if headers is None:
        headers = [(b"content-type", b"application/json")]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers
        if any(k == b"host" for k, _ in headers)
        else [(b"host", b"lessor"), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    await asyncio.wait_for(app(scope, receive, send), timeout=5)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    content_type = dict(sent[0]["headers"]).get(b"content-type", b"")
    return sent[0]["status"], json.loads(body) if b"json" in content_type else body
