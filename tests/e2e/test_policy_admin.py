"""Hold, drain and reload against a real server, through the real CLI with the admin token."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

from tests.conftest import ServerProcess, wait_until
from tests.e2e.helpers import (
    TOKEN,
    admin,
    open_ticket,
    pool_info,
    resource,
    resources,
    ticket,
    up,
    write_pools,
)

ALPHA = """\
alpha:
  max: 3
  max_starting: 2
  max_prealloc: 1
  tags: [fake, alpha]
  cmd_new: FAKE_CLOUD new
  cmd_delete: FAKE_CLOUD delete
"""
BETA = """\
beta:
  max: 2
  max_prealloc: 1
  tags: [fake, beta]
  cmd_new: FAKE_CLOUD new
  cmd_delete: FAKE_CLOUD delete
"""
GAMMA = """\
gamma:
  max: 2
  max_prealloc: 1
  tags: [gamma]
  cmd_new: FAKE_CLOUD new
  cmd_delete: FAKE_CLOUD delete
"""


def serve(start_server: Callable[..., ServerProcess], pools: Path) -> ServerProcess:
    return start_server(pools, LESSOR_SERVER_ADMIN_TOKEN=TOKEN)


def test_a_held_resource_is_never_assigned_nor_deleted_until_unheld(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = serve(start_server, write_pools(tmp_path / "pools.yaml", ALPHA))
    (spare,) = wait_until(lambda: up(server, "alpha"), message="a spare")  # type: ignore[misc]
    rid = str(spare["id"])

    refused = server.lessor("resource-hold", rid)
    assert refused.returncode == 4 and "admin token" in refused.stderr
    held = admin(server, "resource-hold", rid, "--reason", "kernel oops, keep it")
    assert held.returncode == 0, held.stderr
    assert "held: kernel oops, keep it" in held.stdout
    assert resource(server, spare["id"])["hold_reason"] == "kernel oops, keep it"

    # It is out of service: a replacement spare starts and the ticket gets that one.
    tid = open_ticket(server, "--tag", "alpha")
    server.lessor("ticket-wait", str(tid), check=True)
    assert ticket(server, tid)["resource_id"] != spare["id"]
    deleting = admin(server, "resource-delete", rid)
    assert deleting.returncode == 4 and "on hold" in deleting.stderr
    assert resource(server, spare["id"])["state"] == "UP"

    assert admin(server, "resource-unhold", rid).returncode == 0
    assert resource(server, spare["id"])["hold_reason"] is None
    # Back in service: the next ticket may get it (lowest id of the ready ones).
    nxt = open_ticket(server, "--tag", "alpha")
    server.lessor("ticket-wait", str(nxt), check=True)
    assert ticket(server, nxt)["resource_id"] == spare["id"]


def test_drain_keeps_assigned_resources_and_starts_nothing_until_undrained(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = serve(start_server, write_pools(tmp_path / "pools.yaml", ALPHA + BETA))
    wait_until(lambda: len(up(server, "beta")) == 1, message="beta's spare")
    busy = open_ticket(server, "--tag", "beta")
    server.lessor("ticket-wait", str(busy), check=True)
    kept = ticket(server, busy)["resource_id"]
    wait_until(lambda: len(up(server, "beta")) == 1, message="beta's spare replaced")

    assert admin(server, "pool-drain", "beta", "--reason", "maintenance").returncode == 0
    wait_until(lambda: up(server, "beta") == [], message="beta's spare deleted")
    assert pool_info(server, "beta")["drained"] is True
    assert resource(server, kept)["state"] == "TAKEN"  # in use: left alone

    waiting = open_ticket(server, "--tag", "beta")
    check = server.lessor("ticket-check", str(waiting))
    assert check.returncode == 1
    assert "waiting: pool beta: drained (maintenance)" in check.stderr

    server.lessor("ticket-close", str(busy), check=True)
    wait_until(lambda: resource(server, kept)["state"] == "ENDED", message="deleted, not reused")
    assert [r for r in resources(server, "beta")] == []

    assert admin(server, "pool-undrain", "beta").returncode == 0
    server.lessor("ticket-wait", str(waiting), check=True)
    assert pool_info(server, "beta")["drained"] is False


def test_reload_by_command_and_by_sighup_a_removed_pool_drains(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    pools = write_pools(tmp_path / "pools.yaml", ALPHA + BETA)
    server = serve(start_server, pools)
    (beta_spare,) = wait_until(lambda: up(server, "beta"), message="beta's spare")  # type: ignore[misc]

    write_pools(pools, ALPHA + "  description: changed\n" + GAMMA)
    done = admin(server, "reload")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2 pools; added: gamma; removed: beta; changed: alpha"
    wait_until(lambda: len(up(server, "gamma")) == 1, message="the new pool's spare")
    wait_until(
        lambda: resource(server, beta_spare["id"])["state"] == "ENDED",
        message="the removed pool's spare deleted",
    )
    refused = server.lessor("ticket", "--tag", "beta")
    assert refused.returncode == 4 and "no pool provides tag 'beta'" in refused.stderr

    # A file with an error changes nothing, and says where the error is.
    pools.write_text(pools.read_text() + "  max: lots\n")
    broken = admin(server, "reload")
    assert broken.returncode == 4
    assert f"{pools}:" in broken.stderr and "max" in broken.stderr
    assert {p["name"] for p in server.client().get("/api/v1/pools").json()} == {"alpha", "gamma"}

    # SIGHUP does the same as `lessor reload`.
    write_pools(pools, ALPHA.replace("max_prealloc: 1", "max_prealloc: 2") + GAMMA)
    server.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: len(up(server, "alpha")) == 2, message="alpha's new max_prealloc")
