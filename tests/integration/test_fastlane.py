"""The fast lane answers opening and closing tickets exactly as the FastAPI routes do.

Every request is sent to the app twice over: as it is served (the lane takes
the hot requests) and with the lane taken out (FastAPI alone, the reference).
Status and JSON must be the same, ids and times aside.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.integration.inprocess import app_of, call, service_on

from lessor.api.fastlane import LANE_BODY
from lessor.api.guards import ASGIApp
from lessor.server import Parts

VARYING = {"id", "created_at", "assigned_at", "closed_at", "resource_id", "expires_at", "key"}


@pytest.fixture
def service(db_url: str) -> Iterator[Parts]:
    svc = service_on(db_url)
    yield svc
    svc.close()


def exchange(app: ASGIApp, steps: list[tuple[str, str, Any]]) -> list[tuple[int, Any]]:
    """Send the steps in order; `{id}` in a path is the id of the last ticket answered, and
    the key of the last ticket opened goes with every request (its holder's)."""

    async def run() -> list[tuple[int, Any]]:
        answers: list[tuple[int, Any]] = []
        last_id, key = 0, ""
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://lessor") as client:
            for method, path, body in steps:
                kw: dict[str, Any] = (
                    {"content": body, "headers": {"content-type": "application/json"}}
                    if isinstance(body, bytes)
                    else {"json": body}
                )
                kw["headers"] = {**kw.get("headers", {}), "Lessor-Ticket-Key": key}
                r = await client.request(method, path.format(id=last_id), **kw)
                answer = r.json()
                if isinstance(answer, dict) and "id" in answer:
                    last_id = answer["id"]
                    key = answer.get("key", key)
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
    ("POST", "/api/v1/tickets", b'{"tags": ["y"]' + b" " * 70_000 + b"}"),  # FastAPI's: big
    ("POST", "/api/v1/tickets", {"tags": ["y"] * 20_000}),  # too many tags: 422 naming them
    ("POST", "/api/v1/tickets", {"tags": ["x"], "colour": "red"}),  # unknown field: 422
    ("GET", "/api/v1/tickets?state=CLOSED", None),  # not the lane's
]


def test_the_lane_answers_as_fastapi_does(tmp_path: Path) -> None:
    served, reference = (service_on(f"sqlite:///{tmp_path / n}.sqlite") for n in ("a", "b"))
    lane = exchange(app_of(served, tmp_path, lane=True), STEPS)
    plain = exchange(app_of(reference, tmp_path, lane=False), STEPS)
    for svc in (served, reference):
        svc.store.close()  # type: ignore[attr-defined]
    statuses = [201, 200, 200, 201, 201, 201, 422, 422, 422, 422, 404, 422, 201, 422, 422, 200]
    assert [status for status, _ in lane] == statuses
    assert lane == plain
    assert lane[0][1]["state"] == "ASSIGNED" and lane[0][1]["data"] == "10.0.0.1\n"
    assert lane[1][1]["state"] == "CLOSED"
    assert lane[6][1] == {"detail": "no pool provides tag 'nope'"}
    assert lane[13][1]["detail"].startswith("tags: List should have at most 64 items")
    assert lane[14][1]["detail"] == "colour: Extra inputs are not permitted"


def test_the_lane_serves_both_databases(service: Parts, tmp_path: Path) -> None:
    answers = exchange(app_of(service, tmp_path, lane=True), STEPS[:2])
    assert [a[1]["state"] for a in answers] == ["ASSIGNED", "CLOSED"]


@pytest.mark.parametrize(
    "chunks",
    [
        [b'{"tags": ["x"]' + b" " * 70_000 + b"}"],  # one chunk past the lane's limit
        [b'{"tags": ["x"]' + b" " * 60_000, b" " * 10_000 + b"}"],  # the last crosses it
    ],
    ids=["one-chunk", "last-chunk-crosses"],
)
def test_a_body_past_the_lanes_limit_in_its_last_chunk_is_answered(
    service: Parts, tmp_path: Path, chunks: list[bytes]
) -> None:
    assert sum(map(len, chunks)) > LANE_BODY
    status, answer = asyncio.run(
        call(app_of(service, tmp_path, lane=True), "POST", "/api/v1/tickets", chunks)
    )
    assert status == 201 and answer["tags"] == ["x"]
