"""On-demand pools against a real server: no spares; a resource is started for its ticket."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.conftest import ServerProcess, wait_until
from tests.e2e.helpers import open_ticket, resources, ticket, up, write_pools

POOLS = """\
small:
  max: 2
  max_prealloc: 1
  tags: [fake]
  cmd_new: FAKE_CLOUD new
  cmd_delete: FAKE_CLOUD delete
big:
  max: 2
  max_starting: 2
  max_prealloc: 2   # ignored: an on-demand pool keeps no spares
  tags: [fake]
  tags_on_demand: [bigmem]
  cmd_new: FAKE_CLOUD new
  cmd_delete: FAKE_CLOUD delete
"""


def test_an_on_demand_resource_starts_for_its_ticket_only(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = start_server(write_pools(tmp_path / "pools.yaml", POOLS), FAKE_CLOUD_BOOT_SECONDS="4")
    wait_until(lambda: len(up(server, "small")) == 1, message="the small pool's spare")
    assert resources(server, "big") == []

    # A normal ticket is served by the normal pool; nothing starts in the big one.
    plain = open_ticket(server, "--tag", "fake")
    assert server.lessor("ticket-wait", str(plain)).returncode == 0
    assert resources(server, "big") == []

    tid = open_ticket(server, "--tag", "bigmem")
    (started,) = wait_until(lambda: resources(server, "big"), message="a big resource")  # type: ignore[misc]
    assert started["reserved_for"] == tid
    check = server.lessor("ticket-check", str(tid))
    assert check.returncode == 1
    assert "waiting: pool big: " in check.stderr and "starting" in check.stderr
    assert "for you" in check.stderr

    waited = server.lessor("ticket-wait", str(tid), check=True)
    assert waited.stdout.startswith("127.0.0.")
    assert ticket(server, tid)["resource_id"] == started["id"]

    server.lessor("ticket-close", str(tid), str(plain), check=True)
    wait_until(lambda: resources(server, "big") == [], message="the big resource deleted")
    # ... and none comes back as a spare, while the small pool keeps its own.
    wait_until(lambda: len(up(server, "small")) == 1, message="the small spare replaced")
    assert resources(server, "big") == []
