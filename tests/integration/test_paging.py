"""List endpoints answer one page at a time, name the next in a Link header, and the
client (so the CLI) pages through to the end: nothing is lost, nothing repeats."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from tests.integration.inprocess import app_of, service_on

from lessor.client.http import LessorClient
from lessor.domain.paging import MAX_LIMIT


def get_all(tmp_path: Path, tickets: int, *paths: str) -> list[httpx.Response]:
    """GET each path in turn (a path None: the Link of the answer before) from a service
    with `tickets` waiting tickets and its three resources."""
    parts = service_on(f"sqlite:///{tmp_path / 'db.sqlite'}")
    for _ in range(tickets):
        parts.store.open_ticket(["nothing-serves-this"], None, 0, 1.0)
    app = app_of(parts, tmp_path, lane=False)

    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://lessor") as http:
            return [await http.get(p) for p in paths]

    return asyncio.run(run())


def test_a_list_is_paged_and_the_link_header_names_the_next_page(tmp_path: Path) -> None:
    first, last = get_all(tmp_path, 7, "/api/v1/tickets?limit=4", "/api/v1/tickets?after=4&limit=4")
    assert [t["id"] for t in first.json()] == [1, 2, 3, 4]
    assert first.links["next"]["url"] == "/api/v1/tickets?after=4&limit=4"
    assert [t["id"] for t in last.json()] == [5, 6, 7]
    assert "next" not in last.links


def test_a_page_is_bounded_and_keeps_its_filters(tmp_path: Path) -> None:
    too_big, after, pool = get_all(
        tmp_path,
        0,
        f"/api/v1/resources?limit={MAX_LIMIT + 1}",
        "/api/v1/resources?after=1",
        "/api/v1/resources?pool=p&limit=1",
    )
    assert too_big.status_code == 422 and "limit" in too_big.text
    assert [r["id"] for r in after.json()] == [2, 3]
    assert [r["id"] for r in pool.json()] == [1]
    assert pool.links["next"]["url"] == "/api/v1/resources?pool=p&after=1&limit=1"


def test_the_client_follows_the_next_page_to_the_end() -> None:
    asked: list[str | None] = []

    def server(request: httpx.Request) -> httpx.Response:
        after = request.url.params.get("after")
        asked.append(after)
        start = int(after or 0)
        rows = [ticket(i) for i in range(start + 1, min(start + 2, 5) + 1)]
        link = {"Link": f'</api/v1/tickets?after={rows[-1]["id"]}>; rel="next"'}
        return httpx.Response(200, json=rows, headers=link if start + 2 < 5 else {})

    client = LessorClient("http://lessor")
    client._http = httpx.Client(transport=httpx.MockTransport(server), base_url="http://lessor")
    assert [t.id for t in client.tickets()] == [1, 2, 3, 4, 5]
    assert asked == [None, "2", "4"]


def ticket(i: int) -> dict[str, object]:
    empty = dict.fromkeys(("resource_id", "data", "data_b64", "assigned_at", "closed_at"))
    common = {"state": "OPEN", "tags": ["x"], "sandbox": None, "priority": 0, "message": ""}
    return {"id": i, **common, **empty, "created_at": "2026-12-02T12:00:00Z"}


def test_the_closed_tickets_page_shows_the_newest_and_links_to_older(tmp_path: Path) -> None:
    from lessor.web.pages import HISTORY_PAGE

    parts = service_on(f"sqlite:///{tmp_path / 'db.sqlite'}")
    for _ in range(HISTORY_PAGE + 5):
        t = parts.store.open_ticket(["nothing-serves-this"], None, 0, 1.0)
        assert parts.store.close_ticket(t.id, 2.0)
    app = app_of(parts, tmp_path, lane=False)

    async def run() -> tuple[httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://lessor") as http:
            newest = await http.get("/ui/tickets?state=CLOSED")
            return newest, await http.get("/ui/tickets?state=CLOSED&before=6")

    newest, oldest = asyncio.run(run())
    assert f'href="/ui/tickets/{HISTORY_PAGE + 5}"' in newest.text
    assert 'href="/ui/tickets/5"' not in newest.text
    assert "before=6" in newest.text and 'rel="next"' in newest.text
    assert 'href="/ui/tickets/5"' in oldest.text and 'rel="next"' not in oldest.text
