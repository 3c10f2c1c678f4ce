"""Jobs through the HTTP API: one part closed by its ticket ends the job; a job the pools'
`max` can never serve is refused at open, naming the part and the limit."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.integration.inprocess import app_of, call, service_on

from lessor.planner.plan import plan
from lessor.server import MEMORY, Parts


@pytest.fixture(params=["memory", "sqlite"])
def parts(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Parts]:
    url = MEMORY if request.param == "memory" else f"sqlite:///{tmp_path / 'lessor.sqlite'}"
    built = service_on(url)
    yield built
    built.close()


def http(
    parts: Parts, tmp: Path, method: str, path: str, body: Any = None, key: str | None = None
) -> tuple[int, Any]:
    headers = [(b"content-type", b"application/json")]
    if key is not None:
        headers.append((b"lessor-ticket-key", key.encode()))
    chunks = [json.dumps(body).encode() if body is not None else b""]
    return asyncio.run(call(app_of(parts, tmp), method, path, chunks, headers))


def test_closing_one_parts_ticket_over_http_closes_the_whole_job(
    parts: Parts, tmp_path: Path
) -> None:
    body = {"parts": {"vm": {"tags": ["x"]}, "board": {"tags": ["y"]}}}
    status, opened = http(parts, tmp_path, "POST", "/api/v1/jobs", body)
    assert status == 201, opened
    with parts.transactions.atomic():
        snapshot = parts.service.snapshot()
        parts.service.applier.apply(snapshot, plan(snapshot))
    status, job = http(parts, tmp_path, "GET", f"/api/v1/jobs/{opened['id']}")
    assert job["state"] == "GRANTED", job
    board = job["parts"]["board"]["ticket_id"]
    status, _ = http(parts, tmp_path, "POST", f"/api/v1/tickets/{board}/close", {}, opened["key"])
    assert status == 200
    status, job = http(parts, tmp_path, "GET", f"/api/v1/jobs/{opened['id']}")
    assert job["state"] == "CLOSED"
    assert {p["state"] for p in job["parts"].values()} == {"CLOSED"}


def test_a_job_beyond_a_pools_max_is_refused_with_422_naming_the_part(
    parts: Parts, tmp_path: Path
) -> None:
    body = {"parts": {"a": {"tags": ["y"]}, "b": {"tags": ["y"]}}}
    status, answer = http(parts, tmp_path, "POST", "/api/v1/jobs", body)
    assert status == 422
    assert "parts.b: can never be served: pool q has max 1" in json.dumps(answer)
    status, jobs = http(parts, tmp_path, "GET", "/api/v1/jobs")
    assert jobs == []  # nothing left waiting
