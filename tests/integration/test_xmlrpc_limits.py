"""resalloc's XML-RPC calls are held to the JSON API's limits, the same on both databases."""

from __future__ import annotations

import asyncio
import xmlrpc.client
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.integration.inprocess import app_of, service_on

from lessor.api.xmlrpc import RESALLOC_EXCEPTION
from lessor.service.core import LessorService


@pytest.fixture
def service(db_url: str) -> Iterator[LessorService]:
    svc = service_on(db_url)
    yield svc
    svc.store.close()  # type: ignore[attr-defined]


def rpc(service: LessorService, tmp: Path, *calls: tuple[str, tuple[Any, ...]]) -> list[Any]:
    """Each call's result, or its fault's message."""
    app = app_of(service, tmp)

    async def run() -> list[Any]:
        transport = httpx.ASGITransport(app=app)
        results: list[Any] = []
        async with httpx.AsyncClient(transport=transport, base_url="http://lessor") as client:
            for method, params in calls:
                body = xmlrpc.client.dumps(params, method, allow_none=True)
                r = await client.post("/RPC2", content=body, headers={"content-type": "text/xml"})
                try:
                    results.append(xmlrpc.client.loads(r.text, use_builtin_types=True)[0][0])
                except xmlrpc.client.Fault as fault:
                    results.append(fault.faultString)
        return results

    return asyncio.run(run())


def test_tags_sandbox_and_ids_out_of_bounds_are_faults_naming_them(
    service: LessorService, tmp_path: Path
) -> None:
    huge = str(10**30)  # resalloc's CLI passes ids as the text it was given
    beyond = str(2**40)  # beyond PostgreSQL's INTEGER
    assert rpc(
        service,
        tmp_path,
        ("takeTicket", (["x"], "s" * 256)),
        ("takeTicket", (["x", "t" * 256],)),
        ("takeTicket", (["x"] * 65,)),
        ("collectTicket", (huge,)),
        ("collectTicket", (beyond,)),
        ("closeTicket", (beyond,)),
        ("waitTicket", (huge,)),
        ("takeTicket", (["x"], "s" * 255)),  # at the limits: served
    ) == [
        "sandbox: String should have at most 255 characters",
        "tags.1: String should have at most 255 characters",
        "tags: List should have at most 64 items after validation, not 65",
        {"ready": None, "output": None, "closed": None, "failed": None},
        {"ready": None, "output": None, "closed": None, "failed": None},
        f"{RESALLOC_EXCEPTION}no such ticket {beyond}",  # resalloc's words, as for any unknown id
        f"{RESALLOC_EXCEPTION}no such ticket {huge}",
        1,
    ]
