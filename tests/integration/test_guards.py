"""A web page of another origin cannot change state, whichever route it aims at.

A browser sends a form-like POST (form or text/plain body, or none) to any
server without asking first, with the page's `Origin`. Each such attempt is
sent as a second caller would send it, to the fast lane and to FastAPI's
routes alike; none may open, close, extend or hold anything.
"""

from __future__ import annotations

import asyncio
import xmlrpc.client
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.integration.inprocess import app_of, call, service_on

from lessor.api.guards import MAX_BODY, ASGIApp, Guard
from lessor.service.core import LessorService

TOKEN = "sesame"
EVIL = "http://evil.example"


@pytest.fixture
def service(tmp_path: Path) -> Iterator[LessorService]:
    svc = service_on(f"sqlite:///{tmp_path / 'lessor.sqlite'}")
    yield svc
    svc.store.close()  # type: ignore[attr-defined]


def send(app: ASGIApp, *requests: tuple[str, str, dict[str, Any]]) -> list[httpx.Response]:
    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://lessor") as client:
            return [await client.request(m, path, **kw) for m, path, kw in requests]

    return asyncio.run(run())


def state(app: ASGIApp) -> list[tuple[int, str]]:
    (answer,) = send(app, ("GET", "/api/v1/tickets", {}))
    return [(t["id"], t["state"]) for t in answer.json()]


FORM = {"content": b"tags=x", "headers": {"content-type": "application/x-www-form-urlencoded"}}
PLAIN = {"content": b'{"tags": ["x"]}', "headers": {"content-type": "text/plain"}}
FOREIGN = {"json": {"tags": ["x"]}, "headers": {"origin": EVIL}}
ADMIN = {"authorization": f"Bearer {TOKEN}"}


@pytest.mark.parametrize("lane", [True, False], ids=["fast-lane", "fastapi"])
def test_a_page_of_another_origin_changes_nothing(
    service: LessorService, tmp_path: Path, lane: bool
) -> None:
    app = app_of(service, tmp_path, lane=lane, admin_token=TOKEN)
    (opened,) = send(app, ("POST", "/api/v1/tickets", {"json": {"tags": ["x"], "ttl": 600}}))
    tid = opened.json()["id"]
    before = state(app)
    answers = send(
        app,
        ("POST", "/api/v1/tickets", FORM),
        ("POST", "/api/v1/tickets", PLAIN),
        ("POST", "/api/v1/tickets", {"content": b'{"tags": ["x"]}'}),  # no type at all
        ("POST", "/api/v1/tickets", FOREIGN),
        ("POST", f"/api/v1/tickets/{tid}/close", {"headers": {"origin": EVIL}}),
        ("POST", f"/api/v1/tickets/{tid}/close", {"headers": {"origin": "null"}}),
        ("POST", f"/api/v1/tickets/{tid}/close", PLAIN),
        ("POST", f"/api/v1/tickets/{tid}/close", FORM),
        ("POST", f"/api/v1/tickets/{tid}/extend", {**PLAIN, "content": b'{"ttl": 0.001}'}),
        ("POST", f"/api/v1/tickets/{tid}/extend", {"json": {"ttl": 0.001}, **FOREIGN}),
        ("POST", "/api/v1/resources/1/hold", {"headers": {"origin": EVIL, **ADMIN}}),
        ("DELETE", "/api/v1/resources/2", {"headers": {"origin": EVIL, **ADMIN}}),
        ("POST", "/api/v1/pools/p/drain", {"headers": {"origin": EVIL, **ADMIN}}),
    )
    assert [a.status_code for a in answers] == [415] * 3 + [403] * 3 + [415] * 3 + [403] * 4
    assert answers[0].json() == {
        "detail": "Content-Type application/x-www-form-urlencoded: "
        "a request body is application/json"
    }
    assert answers[3].json() == {"detail": f"origin {EVIL} may not change state on http://lessor"}
    assert state(app) == before  # nothing opened, nothing closed, nothing expired
    (held,) = send(app, ("GET", "/api/v1/resources/1", {}))
    assert held.json()["hold_reason"] is None


@pytest.mark.parametrize("lane", [True, False], ids=["fast-lane", "fastapi"])
def test_the_servers_own_pages_and_callers_without_origin_are_served(
    service: LessorService, tmp_path: Path, lane: bool
) -> None:
    guard = Guard.of(allowed_origins=["https://lessor.example.com/"])
    app = app_of(service, tmp_path, lane=lane, guard=guard)
    answers = send(
        app,
        ("POST", "/api/v1/tickets", {"json": {"tags": ["x"]}}),  # the CLI: no Origin
        (
            "POST",
            "/api/v1/tickets",
            {"json": {"tags": ["x"]}, "headers": {"origin": "http://lessor"}},
        ),
        (
            "POST",
            "/api/v1/tickets",
            {
                "content": b'{"tags": ["y"]}',
                "headers": {
                    "content-type": "application/json; charset=utf-8",
                    "origin": "https://LESSOR.example.com",  # allowed, as configured
                },
            },
        ),
    )
    assert [a.status_code for a in answers] == [201, 201, 201]
    first, second = (a.json()["key"] for a in answers[:2])
    closes = send(
        app,
        ("POST", "/api/v1/tickets/1/close", {"headers": {"lessor-ticket-key": first}}),  # no body
        (
            "POST",
            "/api/v1/tickets/2/close",
            {"headers": {"origin": "http://lessor", "lessor-ticket-key": second}},
        ),
    )
    assert [a.status_code for a in closes] == [200, 200]


def test_the_own_origin_is_the_host_with_its_port_as_a_browser_writes_it(
    service: LessorService, tmp_path: Path
) -> None:
    app = app_of(service, tmp_path)

    def status(host: bytes, origin: bytes) -> int:
        headers = [(b"host", host), (b"origin", origin)]
        return asyncio.run(call(app, "POST", "/api/v1/tickets/9/close", [b""], headers))[0]

    assert status(b"lessor:80", b"http://lessor") == 404  # past the guard: no such ticket
    assert status(b"Lessor:8080", b"http://lessor:8080") == 404
    assert status(b"lessor:8080", b"http://lessor") == 403
    assert status(b"lessor", b"https://lessor") == 403


def test_xmlrpc_calls_are_xml_or_refused(service: LessorService, tmp_path: Path) -> None:
    app = app_of(service, tmp_path)
    call_body = xmlrpc.client.dumps((["x"],), "takeTicket").encode()
    answers = send(
        app,
        ("POST", "/RPC2", {"content": call_body, "headers": {"content-type": "text/plain"}}),
        ("POST", "/", {"content": call_body}),
        ("POST", "/RPC2", {"content": call_body, "headers": {"content-type": "text/xml"}}),
        ("POST", "/", {"content": call_body, "headers": {"content-type": "application/xml"}}),
    )
    assert [a.status_code for a in answers] == [415, 415, 200, 200]
    assert answers[0].json() == {"detail": "Content-Type text/plain: XML-RPC calls send text/xml"}
    assert [xmlrpc.client.loads(a.text)[0] for a in answers[2:]] == [(1,), (2,)]
    assert len(state(app)) == 2  # the two refused calls opened nothing


@pytest.mark.parametrize("lane", [True, False], ids=["fast-lane", "fastapi"])
def test_a_json_body_over_the_limit_is_refused_and_never_read_whole(
    service: LessorService, tmp_path: Path, lane: bool
) -> None:
    app = app_of(service, tmp_path, lane=lane)
    padded = b'{"tags": ["x"]' + b" " * MAX_BODY + b"}"
    declared = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(padded))]
    # declared too large: answered before a byte is read (the chunks are never asked for)
    assert asyncio.run(call(app, "POST", "/api/v1/tickets", [padded], declared)) == (
        413,
        {"detail": f"request body too large: at most {MAX_BODY} bytes"},
    )
    # streamed without a length: stopped once past the limit
    chunks = [padded[i : i + 65536] for i in range(0, len(padded), 65536)]
    status, answer = asyncio.run(call(app, "POST", "/api/v1/tickets", chunks))
    assert (status, answer) == (
        413,
        {"detail": f"request body too large: at most {MAX_BODY} bytes"},
    )
    assert state(app) == []


def test_an_xmlrpc_body_over_the_limit_is_a_fault(service: LessorService, tmp_path: Path) -> None:
    app = app_of(service, tmp_path)
    big = xmlrpc.client.dumps(("x" * MAX_BODY,), "takeTicket").encode()
    chunks = [big[i : i + 65536] for i in range(0, len(big), 65536)]
    status, answer = asyncio.run(
        call(app, "POST", "/RPC2", chunks, [(b"content-type", b"text/xml")])
    )
    assert status == 200
    with pytest.raises(xmlrpc.client.Fault, match=f"request body too large: at most {MAX_BODY}"):
        xmlrpc.client.loads(answer)
