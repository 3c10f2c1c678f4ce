"""The fast lane answers opening and closing tickets exactly as the FastAPI routes do.

Every request is sent to the app twice over: as it is served (the lane takes
the hot requests) and with the lane taken out (FastAPI alone, the reference).
Status and JSON must be the same, ids and times aside.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lessor.api.app import Settings, create_app
from lessor.api.fastlane import MAX_BODY, ASGIApp, FastLane
from lessor.domain.model import Pool, Tag
from lessor.service.core import LessorService
from lessor.store.sql import SqlStore

POOLS = (
    Pool("p", tags=(Tag("x"),), reuse_opportunity_time=600.0),
    Pool("q", tags=(Tag("y"),), max=1),
)
VARYING = {"id", "created_at", "assigned_at", "closed_at", "resource_id", "expires_at"}


def app_of(service: LessorService, tmp: Path, lane: bool) -> ASGIApp:
    """The app as `lessor server` serves it, or FastAPI alone."""
    app = create_app(Settings(db_url="", pools=POOLS, logdir=tmp))
    app.state.service = service  # no lifespan: no reconciler, nothing but the API
    return FastLane(app) if lane else app


def service_on(url: str) -> LessorService:
    """A service with two spares in pool p and one (binary data) in pool q."""
    store = SqlStore.connect(url)
    for pool, tag, data in (
        ("p", "x", b"10.0.0.1\n"),
        ("p", "x", b"10.0.0.2\n"),
        ("q", "y", b"\xff"),
    ):
        r = store.create_resource(pool, [tag], "{id}", 1.0)
        assert store.mark_up(r.id, data, time.time())
    return LessorService(store, POOLS)


@pytest.fixture
def service(db_url: str) -> Iterator[LessorService]:
    svc = service_on(db_url)
    yield svc
    svc.store.close()  # type: ignore[attr-defined]


def exchange(app: ASGIApp, steps: list[tuple[str, str, Any]]) -> list[tuple[int, Any]]:
    """Send the steps in order; `{id}` in a path is the id of the last ticket answered."""

    async def run() -> list[tuple[int, Any]]:
        answers: list[tuple[int, Any]] = []
        last_id = 0
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://lessor") as client:
            for method, path, body in steps:
                kw: dict[str, Any] = (
                    {"content": body} if isinstance(body, bytes) else {"json": body}
                )
                r = await client.request(method, path.format(id=last_id), **kw)
                answer = r.json()
                if isinstance(answer, dict) and "id" in answer:
                    last_id = answer["id"]
                answers.append((r.status_code, _steady(answer)))
        return answers

    return asyncio.run(run())


def _steady(answer: Any) -> Any:
    if isinstance(answer, list):
        return [_steady(a) for a in answer]
    if isinstance(answer, dict):
        return {k: v for k, v in answer.items() if k not in VARYING}
    return answer


STEPS: list[tuple[str, str, Any]] = [
    ("POST", "/api/v1/tickets", {"tags": ["x"], "sandbox": "ci"}),
    ("POST", "/api/v1/tickets/{id}/close", None),
    ("POST", "/api/v1/tickets/{id}/close", None),  # again: still closed, no error
    ("POST", "/api/v1/tickets", {"tags": ["x"], "sandbox": "ci"}),  # reuses the same one
    ("POST", "/api/v1/tickets", {"tags": ["y"], "priority": 3, "ttl": 60}),  # binary data
    ("POST", "/api/v1/tickets", {"tags": ["y"]}),  # nothing ready: OPEN
    ("POST", "/api/v1/tickets", {"tags": ["x", "nope"]}),  # no pool: 422 naming the tag
    ("POST", "/api/v1/tickets", {"tags": []}),  # invalid: FastAPI's 422
    ("POST", "/api/v1/tickets", b"{not json"),
    ("POST", "/api/v1/tickets", {"tags": ["x"], "ttl": -1}),
    ("POST", "/api/v1/tickets/999999/close", None),  # 404
    ("POST", "/api/v1/tickets/abc/close", None),  # not an id: FastAPI's 422
    ("POST", "/api/v1/tickets", {"tags": ["y"] * 20_000}),  # too big for the lane: FastAPI's
    ("GET", "/api/v1/tickets?state=CLOSED", None),  # not the lane's
]


def test_the_lane_answers_as_fastapi_does(tmp_path: Path) -> None:
    served, reference = (service_on(f"sqlite:///{tmp_path / n}.sqlite") for n in ("a", "b"))
    lane = exchange(app_of(served, tmp_path, lane=True), STEPS)
    plain = exchange(app_of(reference, tmp_path, lane=False), STEPS)
    for svc in (served, reference):
        svc.store.close()  # type: ignore[attr-defined]
    statuses = [201, 200, 200, 201, 201, 201, 422, 422, 422, 422, 404, 422, 201, 200]
    assert [status for status, _ in lane] == statuses
    assert lane == plain
    assert lane[0][1]["state"] == "ASSIGNED" and lane[0][1]["data"] == "10.0.0.1\n"
    assert lane[1][1]["state"] == "CLOSED"
    assert lane[6][1] == {"detail": "no pool provides tag 'nope'"}


def test_the_lane_serves_both_databases(service: LessorService, tmp_path: Path) -> None:
    answers = exchange(app_of(service, tmp_path, lane=True), STEPS[:2])
    assert [a[1]["state"] for a in answers] == ["ASSIGNED", "CLOSED"]


async def _call(
    app: ASGIApp, path: str, chunks: list[bytes], headers: tuple[tuple[bytes, bytes], ...] = ()
) -> tuple[int, Any]:
    """One POST as uvicorn delivers it: `chunks` of body, the last marked as such; after
    that `receive` blocks until the answer is complete, as a connection that stays open."""
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

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"lessor"), (b"content-type", b"application/json"), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    await asyncio.wait_for(app(scope, receive, send), timeout=5)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], json.loads(body)


@pytest.mark.parametrize(
    "chunks",
    [
        [b'{"tags": [' + b'"x", ' * 14_000 + b'"x"]}'],  # one chunk past the lane's limit
        [b'{"tags": [' + b'"x", ' * 12_000, b'"x", ' * 2_000 + b'"x"]}'],  # the last crosses it
    ],
    ids=["one-chunk", "last-chunk-crosses"],
)
def test_a_body_past_the_lanes_limit_in_its_last_chunk_is_answered(
    service: LessorService, tmp_path: Path, chunks: list[bytes]
) -> None:
    assert sum(map(len, chunks)) > MAX_BODY
    status, answer = asyncio.run(
        _call(app_of(service, tmp_path, lane=True), "/api/v1/tickets", chunks)
    )
    assert status == 201 and answer["tags"] == ["x"]
