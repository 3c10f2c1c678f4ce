"""Sandbox reuse against a real server: kept for its sandbox within limits, then deleted."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.conftest import ServerProcess, wait_until
from tests.e2e.helpers import events, open_ticket, resource, resources, ticket, write_pools

POOLS = """\
reusing:
  max: 4
  max_starting: 2
  max_prealloc: 0
  start_for_waiting: true
  tags: [fake]
  cmd_new: FAKE_CLOUD new
  cmd_release: FAKE_CLOUD release
  cmd_delete: FAKE_CLOUD delete
  reuse_opportunity_time: 6
  reuse_max_count: 1
"""


def taken(server: ServerProcess, *args: str) -> dict[str, object]:
    tid = open_ticket(server, "--tag", "fake", *args)
    server.lessor("ticket-wait", str(tid), check=True)
    return resource(server, ticket(server, tid)["resource_id"]) | {"ticket": tid}


def test_a_released_resource_serves_its_sandbox_again_within_the_limits(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = start_server(write_pools(tmp_path / "pools.yaml", POOLS))
    cloud = tmp_path / "cloud"

    first = taken(server, "--sandbox", "alice")
    (cloud / str(first["name"]) / "scratch").mkdir()  # what the user left behind
    server.lessor("ticket-close", str(first["ticket"]), check=True)
    wait_until(
        lambda: resource(server, first["id"])["state"] == "UP",  # type: ignore[arg-type]
        message="the resource released for reuse",
    )
    assert resource(server, first["id"])["sandbox"] == "alice"  # type: ignore[arg-type]
    assert not (cloud / str(first["name"]) / "scratch").exists()  # cmd_release cleaned it

    other = taken(server, "--sandbox", "bob")
    assert other["id"] != first["id"]  # another sandbox never gets it
    again = taken(server, "--sandbox", "alice")
    assert again["id"] == first["id"] and again["data"] == first["data"]

    # reuse_max_count: 1 -- the second release ends its life.
    server.lessor("ticket-close", str(again["ticket"]), check=True)
    wait_until(
        lambda: resource(server, first["id"])["state"] == "ENDED",  # type: ignore[arg-type]
        message="deletion after reuse_max_count",
    )
    assert not (cloud / str(first["name"])).exists()

    # bob's is kept for reuse_opportunity_time (6 s), then deleted unused.
    server.lessor("ticket-close", str(other["ticket"]), check=True)
    wait_until(
        lambda: resource(server, other["id"])["state"] == "UP",  # type: ignore[arg-type]
        message="bob's resource kept for his sandbox",
    )
    wait_until(
        lambda: resource(server, other["id"])["state"] == "ENDED",  # type: ignore[arg-type]
        timeout=20,
        message="deletion after reuse_opportunity_time",
    )
    assert "reuse_opportunity_time" in resource(server, other["id"])["message"]  # type: ignore[arg-type]


def test_without_a_sandbox_a_released_resource_runs_cmd_release_then_is_deleted(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    """As resalloc: cmd_release runs at every close of a pool that has one, reused or not."""
    server = start_server(write_pools(tmp_path / "pools.yaml", POOLS))
    mine = taken(server)
    server.lessor("ticket-close", str(mine["ticket"]), check=True)
    wait_until(
        lambda: resource(server, mine["id"])["state"] == "ENDED",  # type: ignore[arg-type]
        message="deletion",
    )
    hooks = [e["details"]["hook"] for e in events(server, resource=mine["id"], kind="hook.started")]
    assert hooks == ["cmd_new", "cmd_release", "cmd_delete"]
    assert "does not reuse" in resource(server, mine["id"])["message"]  # type: ignore[arg-type]
    assert resources(server) == []
