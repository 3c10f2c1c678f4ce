"""Rows M1-M8 of docs/resalloc.md: `lessor maint` where an operator runs resalloc-maint.

resalloc-maint finds the database through CONFIG_DIR's server.yaml and
prints lines that operators' scripts parse; these run `lessor maint` the
same way and compare the lines whole. Gates in the hooks hold resources in
the states resalloc names (STARTING, RELEASING, DELETE_REQUEST, DELETING).
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from tests.conformance.site import Site, SiteFactory
from tests.conftest import wait_until

HOLD = "while [ ! -e WORK/{gate}-$RESALLOC_ID ]; do sleep 0.05; done"

POOLS = f"""
vm:
  max: 3
  max_prealloc: 2
  tags: [vm, x86_64]
  cmd_new: echo $RESALLOC_NAME
  cmd_delete: echo $RESALLOC_NAME >> WORK/deleted
slow:
  max: 1
  max_prealloc: 1
  tags: [slow]
  cmd_new: {HOLD.format(gate="open")}; echo $RESALLOC_NAME
  cmd_delete: 'true'
sticky:
  max: 2
  max_prealloc: 1
  tags: [sticky]
  cmd_new: echo $RESALLOC_NAME
  cmd_release: {HOLD.format(gate="released")}
  cmd_delete: {HOLD.format(gate="gone")}
retry:
  max: 1
  max_prealloc: 1
  tags: [retry]
  delete_backoff: 600
  cmd_new: echo $RESALLOC_NAME
  cmd_delete: test -e WORK/deletable-$RESALLOC_ID
none:
  max: 0
  tags: [scarce]
  cmd_new: 'true'
  cmd_delete: 'true'
"""


@pytest.fixture(scope="module")
def site(sites: SiteFactory, site_db: str) -> Site:
    s = sites(site_db, POOLS)
    s.wait_for("vm", "UP", 2)
    return s


def line(r: dict[str, Any], status: str, tags: str, ticket: object = "NULL") -> str:
    return (
        f"{r['id']} - {r['name']} pool={r['pool']} tags={tags} status={status} "
        f"releases={r['releases']} ticket={ticket}"
    )


def listed(site: Site, *args: str) -> dict[int, str]:
    """resource-list's lines by resource id."""
    return {int(text.split(" ", 1)[0]): text for text in site.maint_lines("resource-list", *args)}


def take(site: Site, tag: str) -> tuple[int, dict[str, Any]]:
    conn = site.rpc()
    tid = conn.takeTicket([tag])
    conn.waitTicket(str(tid))
    return tid, site.resource(site.ticket(tid)["resource_id"])


def test_m1_resource_list_prints_resallocs_line_for_every_state(site: Site) -> None:
    tid, taken = take(site, "vm")
    spare = site.wait_for("vm", "UP", 2)[0]
    sticky_tid, releasing = take(site, "sticky")
    site.rpc().closeTicket(str(sticky_tid))  # cmd_release waits at its gate
    wait_until(lambda: site.resource(releasing["id"])["state"] == "RELEASING", message="RELEASING")
    (retried,) = site.wait_for("retry", "UP")
    site.maint("resource-delete", str(retried["id"]))  # cmd_delete fails: retried in 600 s
    wait_until(lambda: site.resource(retried["id"])["delete_attempts"] == 1, message="a retry")

    lines = listed(site)
    assert lines[taken["id"]] == line(taken, "UP", "vm,x86_64", tid)
    assert lines[spare["id"]] == line(spare, "UP", "vm,x86_64")
    assert lines[releasing["id"]] == line(releasing, "RELEASING", "sticky")
    assert lines[retried["id"]] == line(retried, "DELETE_REQUEST", "retry")
    up = listed(site, "--up")
    assert up[taken["id"]] == lines[taken["id"]] and up[spare["id"]] == lines[spare["id"]]
    assert releasing["id"] not in up and retried["id"] not in up
    site.rpc().closeTicket(str(tid))
    site.open_gate(f"released-{releasing['id']}")
    site.open_gate(f"deletable-{retried['id']}")


def test_m2_a_starting_resource_has_no_tags_yet(site: Site) -> None:
    (starting,) = site.wait_for("slow", "STARTING")
    assert listed(site)[starting["id"]] == line(starting, "STARTING", "")
    site.open_gate(f"open-{starting['id']}")
    wait_until(lambda: site.resource(starting["id"])["state"] == "UP", message="cmd_new")
    assert listed(site)[starting["id"]] == line(starting, "UP", "slow")


def test_m3_a_resource_deleted_while_assigned_still_names_its_ticket(site: Site) -> None:
    tid, held = take(site, "sticky")
    assert site.maint("resource-delete", str(held["id"])).returncode == 0
    wait_until(lambda: site.resource(held["id"])["state"] == "DELETING", message="cmd_delete")
    assert listed(site)[held["id"]] == line(held, "DELETING", "sticky", tid)
    info = json.loads(site.maint("resource-info", str(held["id"])).stdout)
    assert info["ticket_id"] == tid and info["state"] == "DELETING"
    site.open_gate(f"gone-{held['id']}")
    wait_until(lambda: site.resource(held["id"])["state"] == "ENDED", message="deletion")
    assert held["id"] not in listed(site)  # resalloc lists what is not ENDED
    site.rpc().closeTicket(str(tid))


def test_m4_resource_info_has_resallocs_keys_in_its_order_then_lessors(site: Site) -> None:
    tid, held = take(site, "vm")
    by_id = json.loads(site.maint("resource-info", str(held["id"])).stdout)
    by_name = json.loads(site.maint("resource-info", held["name"]).stdout)
    assert by_id == by_name
    assert list(by_id)[:13] == [
        "id",
        "name",
        "user",
        "data",
        "pool",
        "state",
        "check_last_time",
        "check_failed_count",
        "ticket_id",
        "sandbox",
        "sandboxed_since",
        "released_at",
        "releases_counter",
    ]
    assert by_id["user"] is None and by_id["data"] == held["name"]  # UTF-8, stripped
    assert (by_id["id"], by_id["pool"], by_id["state"]) == (held["id"], "vm", "UP")
    assert (by_id["ticket_id"], by_id["releases_counter"], by_id["released_at"]) == (tid, 0, None)
    assert isinstance(by_id["sandboxed_since"], float)
    assert by_id["check_failed_count"] == 0
    missing = site.maint("resource-info", "nope")
    assert (
        missing.returncode == 1 and "nope" in missing.stderr and "Traceback" not in missing.stderr
    )
    site.rpc().closeTicket(str(tid))


def test_m5_resource_delete_of_an_assigned_resource_fails_its_ticket(site: Site) -> None:
    conn = site.rpc()
    tid = conn.takeTicket(["vm"])
    data = conn.waitTicket(str(tid))
    held = site.resource(site.ticket(tid)["resource_id"])
    done = site.maint("resource-delete", str(held["id"]))
    assert (done.returncode, done.stdout) == (0, "")
    assert conn.collectTicket(str(tid)) == {
        "ready": True,
        "output": data,
        "closed": False,
        "failed": True,
    }
    wait_until(lambda: held["name"] in site.trace("deleted"), message="cmd_delete")
    assert (site.logs / "hooks" / f"{held['id']:06d}_terminate").exists()
    conn.closeTicket(str(tid))


def test_m7_ticket_list_prints_open_assigned_and_failed_tickets(site: Site) -> None:
    conn = site.rpc()
    waiting = conn.takeTicket(["scarce"])
    assigned, held = take(site, "vm")
    failed, dead = take(site, "vm")
    site.maint("resource-delete", str(dead["id"]))
    closed = conn.takeTicket(["scarce"])
    conn.closeTicket(str(closed))
    lines = {int(text.split(" ", 1)[0]): text for text in site.maint_lines("ticket-list")}
    assert lines[waiting] == f"{waiting} - state=OPEN tags=scarce"
    assert lines[assigned] == f"{assigned} - state=OPEN tags=vm resource={held['name']}"
    assert lines[failed] == f"{failed} - state=FAILED tags=vm resource={dead['name']}"
    assert closed not in lines
    for tid in (waiting, assigned, failed):
        conn.closeTicket(str(tid))


def test_m8_resource_logs_follows_the_hook_logs_from_their_start(site: Site) -> None:
    tid, held = take(site, "vm")
    follow = subprocess.Popen(
        [sys.executable, "-m", "lessor.cli", "maint", "resource-logs", held["name"]],
        env={**site.server.env, "CONFIG_DIR": str(site.etc)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert follow.stdout is not None
        seen = []
        for text in follow.stdout:  # tail -F: read until cmd_new's stdout shows
            seen.append(text)
            if text == f"{held['name']}\n":
                break
        assert any(f"{held['id']:06d}_alloc" in text for text in seen)
    finally:
        follow.kill()
        follow.wait(10)
    site.rpc().closeTicket(str(tid))
