"""Livecheck policy against a real server: a dead assigned resource is reported on its
ticket and kept; a hanging livecheck is cut at its timeout and counts as a failure."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

from tests.conftest import ServerProcess, wait_until
from tests.e2e.helpers import open_ticket, resource, resources, ticket, write_pools

POOLS = """\
checked:
  max: 3
  max_starting: 2
  max_prealloc: 0
  start_for_waiting: true
  tags: [fake]
  cmd_new: FAKE_CLOUD new
  cmd_livecheck: FAKE_CLOUD livecheck
  cmd_delete: FAKE_CLOUD delete
  livecheck_period: 0.3
  livecheck_attempts: 2
  reuse_opportunity_time: 60
hanging:
  max: 1
  max_prealloc: 1
  tags: [hang]
  cmd_new: FAKE_CLOUD new
  cmd_livecheck: sleep 30
  cmd_delete: FAKE_CLOUD delete
  livecheck_period: 0.3
  livecheck_attempts: 2
  livecheck_timeout: 0.5
"""


def test_a_dead_assigned_resource_fails_its_ticket_and_is_deleted(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    """As resalloc: the ticket FAILED (still yielding the data), the resource deleted."""
    server = start_server(write_pools(tmp_path / "pools.yaml", POOLS))
    tid = open_ticket(server, "--tag", "fake", "--sandbox", "ci")
    server.lessor("ticket-wait", str(tid), check=True)
    r = resource(server, ticket(server, tid)["resource_id"])

    vm = tmp_path / "cloud" / r["name"]
    os.kill(int((vm / "pid").read_text()), signal.SIGKILL)  # the "VM" dies under its user
    wait_until(lambda: ticket(server, tid)["state"] == "FAILED", message="the ticket failed")
    assert "not responding" in ticket(server, tid)["message"]
    assert ticket(server, tid)["resource_id"] == r["id"]
    wait_until(lambda: resource(server, r["id"])["state"] == "ENDED", message="deletion")
    check = server.lessor("ticket-check", str(tid))
    assert check.returncode == 1 and check.stdout == r["data"]
    lines = check.stderr.splitlines()
    assert lines[0] == "WARNING: assigned resource failed"
    assert f"resource {r['name']} is not responding" in lines[1]
    server.lessor("ticket-close", str(tid), check=True)  # closing a failed ticket is fine


def test_a_hanging_livecheck_times_out_and_the_spare_is_replaced(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = start_server(write_pools(tmp_path / "pools.yaml", POOLS))

    def replaced() -> bool:
        ended = [r for r in resources(server, "hanging", all="true") if r["state"] == "ENDED"]
        return bool(ended) and "cmd_livecheck timed out" in ended[0]["message"]

    wait_until(replaced, timeout=20, message="the hanging spare deleted")
    wait_until(
        lambda: any(r["state"] != "ENDED" for r in resources(server, "hanging")),
        message="a new spare",
    )
