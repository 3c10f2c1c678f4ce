"""The web UI's pages over plain HTTP: what they show, what they never show (secrets)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from tests.conftest import ServerProcess, wait_until

SECRET = "hunter2-token-4711"
POOLS = """
tokens:
  description: API tokens nobody may read in a listing
  max: 2
  max_prealloc: 1
  tags: [token]
  secret_data: true
  cmd_new: "echo booting >&2; echo hunter2-token-$((4700 + 11))"  # the secret, not spelled out
  cmd_delete: "true"
vms:
  max: 2
  max_prealloc: 1
  tags: [vm]
  cmd_new: "echo 10.1.2.3"
  cmd_delete: "true"
"""


def get(server: ServerProcess, path: str, **kw: Any) -> httpx.Response:
    with server.client() as c:
        return c.get(path, **kw)


def up_resource(server: ServerProcess, pool: str) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        rows = get(server, "/api/v1/resources", params={"pool": pool}).json()
        return next((r for r in rows if r["state"] == "UP"), None)

    return wait_until(find, message=f"a spare in {pool}")  # type: ignore[return-value]


def test_pages_show_pools_resources_tickets_events_and_hook_logs(
    tmp_path: Path, start_server: Callable[..., ServerProcess]
) -> None:
    pools = tmp_path / "pools.yaml"
    pools.write_text(POOLS)
    server = start_server(pools)
    vm = up_resource(server, "vms")
    up_resource(server, "tokens")
    tid = server.lessor("ticket", "--tag", "vm", check=True).stdout.strip()

    home = get(server, "/")
    assert home.status_code == 200 and home.headers["content-type"].startswith("text/html")
    for name in ("tokens", "vms"):
        assert f'data-pool="{name}"' in home.text
    assert "API tokens nobody may read" in home.text and "secret data" in home.text
    svg = home.text[home.text.index("<svg") : home.text.index("</svg>") + 6]
    drawn = ET.fromstring(svg)
    series = {el.get("data-series") for el in drawn.iter() if el.get("data-series")}
    assert "TAKEN" in series  # the ticket's resource, at the right end of the chart
    assert "taken: 1" in svg

    listing = get(server, "/ui/resources", params={"pool": "vms"}).text
    assert f'data-resource="{vm["id"]}"' in listing and "tokens_" not in listing
    tickets = get(server, "/ui/tickets").text
    assert f'data-ticket="{tid}" data-state="ASSIGNED"' in tickets

    page = get(server, f"/ui/resources/{vm['id']}").text
    assert "10.1.2.3" in page  # not a secret pool: its data is shown
    assert "resource.created" in page and "ticket.assigned" in page
    assert f"/ui/resources/{vm['id']}/logs/alloc" in page
    log = get(server, f"/ui/resources/{vm['id']}/logs/alloc")
    assert log.headers["content-type"].startswith("text/plain")
    assert log.text == "10.1.2.3\n"  # what cmd_new wrote, as resalloc logs it
    missing = get(server, f"/ui/resources/{vm['id']}/logs/passwd")
    assert missing.status_code == 404 and "alloc" in missing.json()["detail"]
    assert get(server, "/ui/resources/999").status_code == 404

    ticket = get(server, f"/ui/tickets/{tid}").text
    assert "ticket.opened" in ticket and f"/ui/resources/{vm['id']}" in ticket

    # What the page's script asks for on each event: the live part only.
    live = get(server, "/ui/tickets", headers={"X-Lessor-Live": "1"}).text
    assert f'data-ticket="{tid}"' in live and "<html" not in live and "<header" not in live

    chart = get(server, "/ui/chart.svg", params={"hours": 1})
    assert chart.headers["content-type"].startswith("image/svg+xml")
    ET.fromstring(chart.text)
    assert get(server, "/ui/static/live.js").status_code == 200


def test_secret_data_is_shown_to_the_ticket_owner_only(
    tmp_path: Path, start_server: Callable[..., ServerProcess]
) -> None:
    pools = tmp_path / "pools.yaml"
    pools.write_text(POOLS)
    server = start_server(pools, LESSOR_SERVER_ADMIN_TOKEN="sesame")
    spare = up_resource(server, "tokens")
    assert spare["data"] is None  # an anonymous listing

    tid = server.lessor("ticket", "--tag", "token", check=True).stdout.strip()
    assert server.lessor("ticket-wait", tid, check=True).stdout == f"{SECRET}\n"
    assert get(server, f"/api/v1/tickets/{tid}").json()["data"] == f"{SECRET}\n"

    anonymous = [
        get(server, "/api/v1/tickets").text,
        get(server, "/api/v1/resources").text,
        get(server, f"/api/v1/resources/{spare['id']}").text,
        get(server, "/").text,
        get(server, "/ui/resources").text,
        get(server, f"/ui/resources/{spare['id']}").text,
        get(server, f"/ui/tickets/{tid}").text,
        get(server, "/ui/events").text,
        get(server, "/api/v1/events", params={"limit": 1000}).text,
    ]
    for text in anonymous:
        assert SECRET not in text
    log = get(server, f"/ui/resources/{spare['id']}/logs/alloc").text
    assert log == "booting\n"  # the log is there with stderr; the data was never written to it

    admin = get(server, "/api/v1/resources", headers={"Authorization": "Bearer sesame"}).json()
    assert f"{SECRET}\n" in {r["data"] for r in admin}
