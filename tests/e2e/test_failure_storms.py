"""A pool whose cmd_new keeps failing backs off, and says so everywhere an operator looks."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from tests.conftest import ServerProcess, wait_until
from tests.e2e.helpers import api, events, open_ticket, pool_info, ticket, write_pools


def starts(server: ServerProcess) -> int:
    return len(events(server, kind="resource.created"))


def test_a_failing_cmd_new_backs_off_and_says_why_until_it_works(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    works = tmp_path / "quota-raised"
    pools = write_pools(
        tmp_path / "pools.yaml",
        "cloud:\n  max: 2\n  max_starting: 1\n  max_prealloc: 1\n  tags: [cloud]\n"
        f"  cmd_new: test -e {works} && echo vm || {{ echo 'quota exceeded' >&2; exit 1; }}\n"
        "  cmd_delete: 'true'\n  start_backoff: 1\n  start_backoff_max: 4\n"
        "secret:\n  max: 1\n  max_prealloc: 1\n  tags: [secret]\n  secret_data: true\n"
        "  cmd_new: echo 'token-of-a-failed-start' >&2; exit 2\n  cmd_delete: 'true'\n",
    )
    server = start_server(pools)
    wait_until(lambda: pool_info(server, "cloud")["start_failures"] >= 2, message="2 failures")
    began, tried = time.monotonic(), starts(server)
    wait_until(lambda: pool_info(server, "cloud")["start_failures"] >= 4, message="4 failures")
    # backing off: 1 s, 2 s, 4 s apart (with a quarter's jitter), not hundreds of tries a second
    assert starts(server) - tried <= 4 and time.monotonic() - began >= 2.5

    cloud = pool_info(server, "cloud")
    assert cloud["failing"] and "quota exceeded" in cloud["last_failure"]
    listed = server.lessor("pools")
    assert "failing" in listed.stdout and "quota exceeded" in listed.stderr
    metrics = api(server, "GET", "/metrics").text
    assert 'lessor_pool_start_failures{pool="cloud"}' in metrics
    tid = open_ticket(server, "--tag", "cloud")
    wait_until(
        lambda: "failing, next start in" in (ticket(server, tid)["waiting_reason"] or ""),
        message="the waiting ticket told",
    )
    assert "quota exceeded" in ticket(server, tid)["waiting_reason"]
    secret = pool_info(server, "secret")
    assert secret["failing"] and "token-of-a-failed-start" not in secret["last_failure"]

    works.touch()  # the operator raised the quota: one success and the pool is well again
    wait_until(lambda: ticket(server, tid)["state"] == "ASSIGNED", timeout=20, message="served")
    wait_until(lambda: not pool_info(server, "cloud")["failing"], message="no longer failing")
