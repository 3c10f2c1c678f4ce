"""`lessor simulate --from-events`: a real server's traffic replayed against a pools.yaml."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.conftest import ServerProcess, wait_until
from tests.e2e.helpers import events, open_ticket, ticket, write_pools

POOLS = """\
cloud:
  max: 3
  max_prealloc: 1
  tags: [fake]
  cmd_new: FAKE_CLOUD new
  cmd_delete: FAKE_CLOUD delete
"""


def test_the_tickets_a_server_served_are_replayed_with_its_hook_times(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    pools = write_pools(tmp_path / "pools.yaml", POOLS)
    server = start_server(pools)
    served = [open_ticket(server, "--tag", "fake") for _ in range(3)]
    for tid in served:
        wait_until(lambda tid=tid: ticket(server, tid)["state"] == "ASSIGNED", message="assigned")
        server.lessor("ticket-close", str(tid), check=True)
    wait_until(
        lambda: any(
            e["details"]["hook"] == "cmd_delete" for e in events(server, kind="hook.finished")
        ),
        message="a cmd_delete done",
    )
    args = ["simulate", "--pools", str(pools), "--from-events", "--days", "1"]
    done = server.lessor(*args, "--json")
    assert done.returncode == 0, done.stderr
    (pool,) = json.loads(done.stdout)["pools"]
    assert (pool["name"], pool["served"]) == ("cloud", 3)
    assert "left out" not in done.stderr
    # without a server, one line and the documented exit code
    gone = server.lessor(*args, LESSOR_SERVER="http://127.0.0.1:9")
    assert gone.returncode == 3 and "Traceback" not in gone.stderr
    both = server.lessor(*args, "--workload", str(pools))
    assert both.returncode == 2 and "give one of --workload FILE or --from-events" in both.stderr
