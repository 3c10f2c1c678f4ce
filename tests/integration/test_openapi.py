"""Every answer of the API is one its OpenAPI document promises, on both databases.

schemathesis generates requests from the document (valid ones and ones that
break its limits), sends them to the app as `lessor server` serves it (the
fast lane in front), with the admin token so admin routes run too, and
checks each answer: never a 500, a documented status and content type, a
body of the documented shape, invalid input refused, 405 with `Allow`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance
from tests.integration.inprocess import POOLS, service_on

from lessor.api.fastlane import FastLane
from lessor.api.guards import ASGIApp
from lessor.server import MEMORY, api_app, build

TOKEN = "sesame"
EXAMPLES = 40
"""Generated requests per operation and database, besides schemathesis's boundary values:
about a minute for both databases on the test machine."""


def without_lifespan(app: ASGIApp) -> ASGIApp:
    """The app with its service set by the test: no lifespan (no reconciler) to start."""

    async def served(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            raise RuntimeError("no lifespan")  # before any message: servers take it as none
        await app(scope, receive, send)

    return served


APP = api_app(build(MEMORY, POOLS), Path("/nonexistent"), admin_token=TOKEN)
schema = schemathesis.openapi.from_asgi("/openapi.json", without_lifespan(FastLane(APP)))


@pytest.fixture(autouse=True)
def service(db_url: str) -> Iterator[None]:
    """The app's service, on a database of its own for each operation."""
    parts = service_on(db_url)
    APP.state.service, APP.state.executor = parts.service, parts.executor
    APP.state.alive = lambda: True  # for /readyz
    yield
    parts.close()


@schemathesis.check
def valid_input_accepted(ctx: Any, response: Any, case: schemathesis.Case) -> bool | None:
    """schemathesis's positive_data_acceptance, less the 422 no schema can foresee: a tag
    no configured pool serves."""
    detail = response.json().get("detail", "") if response.status_code == 422 else ""
    if detail.startswith("no pool provides"):
        return None
    if "[key]: String should match pattern" in detail:  # schemathesis ignores propertyNames
        return None
    return positive_data_acceptance(ctx, response, case)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,  # the same requests every run: CI fails for the code, not the dice
    suppress_health_check=list(HealthCheck),
)
def test_every_answer_is_one_the_document_promises(case: schemathesis.Case) -> None:
    query = case.query or {}
    if "wait" in query:
        query["wait"] = 0  # a long-poll on an OPEN ticket answers only after `wait`
    # a stream never ends: what came within its timeout is its answer
    streams = case.path.endswith("/stream") or query.get("follow") in (True, "true")
    case.call_and_validate(
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=0.1 if streams else 10,
        excluded_checks=[positive_data_acceptance],
        additional_checks=[valid_input_accepted],
    )


def answer(method: str, path: str, **kw: Any) -> tuple[int, dict[str, str], Any]:
    async def run() -> httpx.Response:
        transport = httpx.ASGITransport(app=FastLane(APP))
        async with httpx.AsyncClient(transport=transport, base_url="http://lessor") as client:
            return await client.request(method, path, **kw)

    r = asyncio.run(run())
    return r.status_code, dict(r.headers), r.json()


def test_a_method_a_path_does_not_serve_is_405_with_every_method_it_does() -> None:
    status, headers, body = answer("PATCH", "/api/v1/tickets")
    assert (status, headers["allow"], body) == (
        405,
        "GET, HEAD, POST",
        {"detail": "Method Not Allowed"},
    )


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b'{"tags": ["\xff"]}', "body: not UTF-8 (invalid start byte)"),
        (b'{"tags": ', "body: not JSON (Expecting value at character 9)"),
    ],
)
def test_a_body_that_is_not_json_is_a_422_saying_so(body: bytes, detail: str) -> None:
    json = {"content-type": "application/json"}
    assert answer("POST", "/api/v1/tickets", content=body, headers=json)[::2] == (
        422,
        {"detail": detail},
    )
