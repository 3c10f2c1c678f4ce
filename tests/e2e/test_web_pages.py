"""The web UI's pages over plain HTTP: what they show, what they never show (secrets)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
import xmlrpc.client
from collections.abc import Callable
from datetime import UTC, datetime
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
  cmd_new: "echo vm-booting >&2; echo 10.1.2.3"
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
    # what cmd_new wrote (stdout and stderr), as resalloc logs it, and nothing else
    assert sorted(log.text.splitlines(keepends=True)) == ["10.1.2.3\n", "vm-booting\n"]
    assert log.headers["x-content-type-options"] == "nosniff"
    missing = get(server, f"/ui/resources/{vm['id']}/logs/passwd")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/plain")
    assert "there are alloc, watch, release, terminate" in missing.text

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
    assert server.lessor("ticket-wait", tid, check=True).stdout == f"{SECRET}\n"  # its holder
    rpc = xmlrpc.client.ServerProxy(f"{server.url}/RPC2")
    assert rpc.collectTicket(int(tid))["output"] is None  # resalloc's clients carry no key

    anonymous = [
        get(server, f"/api/v1/tickets/{tid}").text,
        get(server, f"/api/v1/tickets/{tid}", headers={"Lessor-Ticket-Key": "guess"}).text,
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
    log = get(server, f"/ui/resources/{spare['id']}/logs/alloc")
    assert log.status_code == 403 and "keeps its data secret" in log.text

    admin = get(server, "/api/v1/resources", headers={"Authorization": "Bearer sesame"}).json()
    assert f"{SECRET}\n" in {r["data"] for r in admin}


# Secrets printed over several lines, some of which look like the log's own lines; hooks
# after cmd_new get the data in their environment and print it too. The pieces are
# assembled by the shell, so no command line (which a log may quote) spells them.
SECRET_LINES = ("plain-S3CR3T-1", "plain-S3CR3T-2", "tricky-S3CR3T-1", "tricky-S3CR3T-2")
SECRET_POOLS = """
plain:
  max: 1
  max_prealloc: 1
  tags: [plain]
  secret_data: true
  cmd_new: "s=S3CR3T; echo booting >&2; printf 'plain-%s-1\\nplain-%s-2\\n' $s $s"
  cmd_delete: "true"
tricky:
  max: 1
  max_prealloc: 1
  tags: [tricky]
  secret_data: true
  livecheck_period: 0.2
  cmd_new: "s=S3CR3T; printf '=== exit 0\\ntricky-%s-1\\n=== \\n\\ntricky-%s-2\\n' $s $s"
  cmd_livecheck: 'echo "checking $LESSOR_RESOURCE_DATA" >&2'
  cmd_delete: "true"
"""


def test_no_ui_page_or_json_shows_a_secret_pools_data_however_its_hooks_print_it(
    tmp_path: Path, start_server: Callable[..., ServerProcess]
) -> None:
    pools = tmp_path / "pools.yaml"
    pools.write_text(SECRET_POOLS)
    server = start_server(pools, LESSOR_SERVER_ADMIN_TOKEN="sesame")
    plain, tricky = up_resource(server, "plain"), up_resource(server, "tricky")
    rows = get(server, "/api/v1/resources", headers={"Authorization": "Bearer sesame"}).json()
    data = "".join(r["data"] or "" for r in rows)
    assert all(line in data for line in SECRET_LINES)  # what the hooks printed is the data

    def checked() -> bool:
        return bool(get(server, f"/api/v1/resources/{tricky['id']}").json()["last_livecheck"])

    wait_until(checked, message="a livecheck, which prints the data to its log")
    tid = server.lessor("ticket", "--tag", "tricky", check=True).stdout.strip()

    seen = []
    for path in (
        "/",
        "/ui/resources",
        "/ui/resources?ended=true",
        "/ui/tickets",
        f"/ui/tickets/{tid}",
        "/ui/events",
        "/api/v1/events?limit=1000",
        "/api/v1/resources",
        "/api/v1/tickets",
        "/api/v1/whoami",
    ):
        seen.append(get(server, path))
        seen.append(get(server, path, headers={"X-Lessor-Live": "1"}))
    for r in (plain, tricky):
        page = get(server, f"/ui/resources/{r['id']}")
        assert "hooks/" in page.text and "keeps its data secret" in page.text
        assert "/logs/" not in page.text  # no link to a log, in the page or its events
        seen += [page, get(server, f"/ui/resources/{r['id']}", headers={"X-Lessor-Live": "1"})]
        for suffix in ("alloc", "watch", "release", "terminate"):
            log = get(server, f"/ui/resources/{r['id']}/logs/{suffix}")
            assert log.status_code == 403
            seen.append(log)
    for answer in seen:
        for line in SECRET_LINES:
            assert line not in answer.text, f"{answer.url} shows {line}"


def test_a_missing_object_or_a_bad_filter_is_a_page_of_the_site_saying_what_was_wrong(
    tmp_path: Path, start_server: Callable[..., ServerProcess]
) -> None:
    pools = tmp_path / "pools.yaml"
    pools.write_text(POOLS)
    server = start_server(pools)
    wrong = {
        "/ui/tickets/999999": (404, "ticket 999999 does not exist"),
        "/ui/tickets/99999999999999999999": (404, "ticket 99999999999999999999 does not exist"),
        "/ui/resources/999999": (404, "resource 999999 does not exist"),
        "/ui/resources/abc": (422, "resource id &#39;abc&#39; is not a number"),
        "/ui/tickets/-1": (422, "ticket id &#39;-1&#39; is not a number"),
        "/ui/tickets?state=bogus": (422, "state &#39;bogus&#39; is not one of OPEN, ASSIGNED"),
        "/ui/resources?state=bogus": (422, "state &#39;bogus&#39; is not one of STARTING, UP"),
        "/ui/resources?ended=maybe": (
            422,
            "ended &#39;maybe&#39;: Input should be a valid boolean",
        ),
        "/ui/events?ticket=abc": (422, "ticket id &#39;abc&#39; is not a number"),
        "/ui/events?resource=1e3": (422, "resource id &#39;1e3&#39; is not a number"),
        "/ui/events?kind=ticket.exploded": (422, "kind &#39;ticket.exploded&#39; is not an event"),
        "/ui/chart.svg?hours=0": (422, "hours &#39;0&#39;: Input should be greater than 0"),
        "/ui/tickets?state=%3Cscript%3E": (422, "state &#39;&lt;script&gt;&#39; is not one of"),
    }
    for path, (status, line) in wrong.items():
        page = get(server, path)
        assert (page.status_code, page.headers["content-type"]) == (
            status,
            "text/html; charset=utf-8",
        ), path
        assert "<header>" in page.text and 'href="/ui/tickets"' in page.text, path  # the layout
        problem = page.text.split('<p class="problem">', 1)[1].split("</p>", 1)[0]
        assert line in problem and "\n" not in problem, (path, problem)
        assert '"detail"' not in page.text and "<script>" not in page.text
    for path in (  # what the filter forms send, in any case, with empty fields
        "/ui/tickets?state=closed",
        "/ui/tickets?state=",
        "/ui/resources?pool=&state=up&tag=&q=",
        "/ui/events?ticket=&resource=&pool=&kind=",
        "/ui/events?ticket=1&resource=&pool=vms&kind=ticket.opened",
    ):
        assert get(server, path).status_code == 200, path


def test_every_time_shown_says_it_is_utc(
    tmp_path: Path, start_server: Callable[..., ServerProcess]
) -> None:
    pools = tmp_path / "pools.yaml"
    pools.write_text(POOLS)
    server = start_server(pools, TZ="Asia/Kolkata")  # +05:30: no local time is a UTC time
    vm = up_resource(server, "vms")
    page = get(server, f"/ui/resources/{vm['id']}").text
    times = re.findall(r'<time datetime="([^"]+)">([^<]+)</time>', page)
    assert times and "Times are UTC" in page
    for iso, shown in times:
        at = datetime.fromisoformat(iso).astimezone(UTC)
        assert shown == at.strftime("%Y-%m-%d %H:%M:%S UTC")
    assert ">UTC</text>" in get(server, "/").text  # the chart's time axis too


def test_whoami_tells_a_right_token_from_a_wrong_one_and_from_none_configured(
    tmp_path: Path, start_server: Callable[..., ServerProcess]
) -> None:
    pools = tmp_path / "pools.yaml"
    pools.write_text(POOLS)
    guarded = start_server(pools, LESSOR_SERVER_ADMIN_TOKEN="sesame")
    open_ = start_server(pools, data=tmp_path / "open")  # a data directory is one server's
    bearer = {"Authorization": "Bearer sesame"}
    assert get(guarded, "/api/v1/whoami", headers=bearer).json() == {
        "admin": True,
        "admin_configured": True,
    }
    for headers in ({"Authorization": "Bearer guess"}, {}):
        answer = get(guarded, "/api/v1/whoami", headers=headers)
        assert answer.status_code == 200
        assert answer.json() == {"admin": False, "admin_configured": True}
    assert get(open_, "/api/v1/whoami", headers=bearer).json() == {
        "admin": False,
        "admin_configured": False,
    }

    # The pages offer admin actions only where there is an admin token to use them with.
    vm = up_resource(open_, "vms")
    for server, offered in ((guarded, True), (open_, False)):
        pages = [get(server, "/").text, get(server, f"/ui/resources/{vm['id']}").text]
        for text in pages:
            assert ('data-action="' in text) is offered
            assert ('id="admin-token"' in text) is offered
            assert ("admin actions are disabled" in text) is not offered
