"""Rows R1-R6, H5, X17 and M11 of docs/resalloc.md: what a `kill -9` of the server leaves.

resalloc, at start (`fix_broken_after_restart`), sends what was STARTING,
RELEASING or DELETING to cmd_delete and leaves every other state and every
ticket as it was; systemd has killed the hooks with the service. One scene
is set here per database: a hook cut off in each of cmd_new, cmd_release and
cmd_delete, an assigned ticket, a waiting one with a client blocked in
waitTicket. Then the server is killed, an operator runs `lessor maint` with
no server, and the server starts again; each test checks one row.
"""

from __future__ import annotations

import base64
import contextlib
import threading
import xmlrpc.client
from dataclasses import dataclass
from typing import Any

import psutil
import pytest
from tests.conformance.site import Site, SiteFactory, dump_env, restart
from tests.conftest import wait_until

BLOCK = "echo $$ >> WORK/pids; while [ ! -e WORK/go ]; do sleep 0.05; done"
"""Blocks a hook until the test says go, leaving its shell's pid (R6)."""

POOLS = f"""
printed:
  max: 1
  max_prealloc: 1
  tags: [r1]
  cmd_new: echo instance-$RESALLOC_ID; {BLOCK}
  cmd_delete: {dump_env("delete")}
silent:
  max: 1
  max_prealloc: 1
  tags: [h5]
  cmd_new: {BLOCK}; echo late
  cmd_delete: {dump_env("delete")}
deleting:
  max: 1
  max_prealloc: 1
  tags: [r2]
  cmd_new: echo $RESALLOC_NAME
  cmd_delete: echo $RESALLOC_ID >> WORK/r2-deletes; {BLOCK}
releasing:
  max: 1
  max_prealloc: 1
  tags: [r3]
  reuse_opportunity_time: 600
  cmd_new: echo $RESALLOC_NAME
  cmd_release: echo $RESALLOC_ID >> WORK/r3-releases; {BLOCK}
  cmd_delete: echo $RESALLOC_ID >> WORK/r3-deletes
steady:
  max: 1
  max_prealloc: 1
  tags: [r4]
  cmd_new: echo $RESALLOC_ID >> WORK/r4-starts; echo steady-$RESALLOC_ID
  cmd_delete: 'true'
waiter:
  max: 1
  max_prealloc: 0
  start_for_waiting: true
  tags: [r5]
  cmd_new: {BLOCK}; echo served
  cmd_delete: 'true'
offline:
  max: 1
  max_prealloc: 1
  tags: [m11]
  cmd_new: echo $RESALLOC_NAME
  cmd_delete: echo $RESALLOC_ID >> WORK/m11-deletes
"""


@dataclass
class Scene:
    site: Site
    printed: dict[str, Any]
    silent: dict[str, Any]
    deleting: dict[str, Any]
    releasing: dict[str, Any]
    assigned: int
    collected: dict[str, Any]
    waiting: int
    blocked: dict[str, Any]
    offline: dict[str, Any]
    maint_offline: list[str]
    held: list[int]
    """The pids of the hooks the killed server left running."""
    held_after_restart: list[int]
    """Those of them still running once the new server had started its reconciler."""


def running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def pids(site: Site) -> list[int]:
    return [int(line) for line in site.trace("pids")]


@pytest.fixture(scope="module")
def scene(sites: SiteFactory, site_db: str) -> Scene:
    site = sites(site_db, POOLS)
    conn = site.rpc()
    (printed,) = site.wait_for("printed", "STARTING")
    output = site.logs / "hook-runs" / "output" / f"{printed['id']:06d}_alloc"
    wait_until(lambda: output.exists() and output.read_bytes(), message="cmd_new's first line")
    (silent,) = site.wait_for("silent", "STARTING")
    (deleting,) = site.wait_for("deleting", "UP")
    given_back = conn.takeTicket(["r2"])
    conn.waitTicket(str(given_back))
    conn.closeTicket(str(given_back))  # no reuse: cmd_delete runs
    (releasing,) = site.wait_for("releasing", "UP")
    sandboxed = conn.takeTicket(["r3"], "sb")
    conn.waitTicket(str(sandboxed))
    conn.closeTicket(str(sandboxed))
    assigned = conn.takeTicket(["r4"])
    conn.waitTicket(str(assigned))
    collected = conn.collectTicket(str(assigned))
    waiting = conn.takeTicket(["r5"])
    blocked: dict[str, Any] = {}

    def wait() -> None:  # a client blocked in waitTicket when the server dies
        try:
            blocked["data"] = site.rpc().waitTicket(str(waiting))
        except (OSError, xmlrpc.client.ProtocolError) as e:
            blocked["error"] = e

    waiter = threading.Thread(target=wait)
    waiter.start()
    (offline,) = site.wait_for("offline", "UP")
    wait_until(lambda: len(pids(site)) == 5, message="five hooks held")  # incl. the waiter's
    site.wait_for("deleting", "DELETING")
    site.wait_for("releasing", "RELEASING")

    site.server.kill9()
    held = pids(site)  # the new server's hooks add theirs
    waiter.join(10)
    maint = site.maint_lines("resource-list")  # no server: the database is enough
    assert site.maint("resource-delete", str(offline["id"])).returncode == 0
    restart(site)
    with contextlib.suppress(AssertionError):
        wait_until(lambda: not any(map(running, held)), message="the old hooks killed")
    still = [pid for pid in held if running(pid)]
    (site.work / "go").touch()  # from here on, hooks run through
    return Scene(
        site, printed, silent, deleting, releasing, assigned, collected, waiting, blocked,
        offline, maint, held, still,
    )  # fmt: skip


def test_r6_hooks_a_dead_server_left_running_are_killed_at_start(scene: Scene) -> None:
    assert len(scene.held) == 5 and scene.held_after_restart == []


def test_r1_a_resource_cut_off_in_cmd_new_is_deleted_with_what_it_printed(scene: Scene) -> None:
    site, rid = scene.site, scene.printed["id"]
    env = wait_until(lambda: site.env_of(rid, "delete"), message="cmd_delete")
    assert isinstance(env, dict)
    # kept difference: resalloc's cmd_delete gets no data here; lessor's gets the instance id
    # cmd_new had printed, so that the half-made instance can be found and removed
    assert env["RESALLOC_RESOURCE_DATA"] == base64.b64encode(b"instance-%d\n" % rid).decode()
    assert env["RESALLOC_NAME"] == scene.printed["name"]
    wait_until(lambda: site.resource(rid)["state"] == "ENDED", message="the deletion")


def test_h5_a_cmd_delete_for_a_cmd_new_that_printed_nothing_gets_no_data(scene: Scene) -> None:
    site, rid = scene.site, scene.silent["id"]
    env = wait_until(lambda: site.env_of(rid, "delete"), message="cmd_delete")
    assert isinstance(env, dict)
    assert "RESALLOC_RESOURCE_DATA" not in env
    assert {k for k in env if k.startswith("RESALLOC_")} == {
        "RESALLOC_ID",
        "RESALLOC_NAME",
        "RESALLOC_POOL_ID",
        "RESALLOC_ID_IN_POOL",
    }


def test_r2_a_resource_cut_off_in_cmd_delete_is_deleted_again(scene: Scene) -> None:
    site, rid = scene.site, scene.deleting["id"]
    wait_until(lambda: site.trace("r2-deletes").count(str(rid)) == 2, message="a second delete")
    wait_until(lambda: site.resource(rid)["state"] == "ENDED", message="the deletion")


def test_r3_a_resource_cut_off_in_cmd_release_is_deleted_not_released_again(
    scene: Scene,
) -> None:
    site, rid = scene.site, scene.releasing["id"]
    wait_until(lambda: str(rid) in site.trace("r3-deletes"), message="cmd_delete")
    assert site.trace("r3-releases") == [str(rid)]  # cmd_release ran once, before the kill


def test_r4_an_assigned_ticket_is_as_it_was(scene: Scene) -> None:
    site = scene.site
    assert site.rpc().collectTicket(str(scene.assigned)) == scene.collected
    assert len(site.trace("r4-starts")) == 1  # no new cmd_new: its resource still serves


def test_r5_x17_a_waiting_ticket_is_served_after_the_restart(scene: Scene) -> None:
    assert "error" in scene.blocked  # the blocked client's connection dropped with the server
    # resalloc's client with request_survives_server_restart asks again
    assert scene.site.rpc().waitTicket(str(scene.waiting)).data == b"served\n"


def test_m11_maint_works_on_the_database_alone_and_the_server_carries_it_out(
    scene: Scene,
) -> None:
    r = scene.offline
    line = f"{r['id']} - {r['name']} pool=offline tags=m11 status=UP releases=0 ticket=NULL"
    assert line in scene.maint_offline  # listed while no server ran
    wait_until(lambda: str(r["id"]) in scene.site.trace("m11-deletes"), message="cmd_delete")
