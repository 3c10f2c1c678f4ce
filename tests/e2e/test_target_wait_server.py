"""A real server sizes a target_wait pool at start: with no history, its floor of spares,
said in the API, `lessor pools` and one pool.spares event."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.conftest import ServerProcess, wait_until
from tests.e2e.helpers import api, events, pool_info, up, write_pools

SIZED = """\
sized:
  max: 4
  max_starting: 2
  max_prealloc: 3
  min_prealloc: 1
  target_wait: {p95: 30}
  cost_per_hour: 0.5
  tags: [fake]
  cmd_new: FAKE_CLOUD new
  cmd_delete: FAKE_CLOUD delete
"""


def test_a_server_keeps_the_floor_of_a_target_wait_pool_without_history(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = start_server(write_pools(tmp_path / "pools.yaml", SIZED))
    wait_until(lambda: pool_info(server, "sized")["spares_reason"], message="a sizing")
    shown = pool_info(server, "sized")
    assert (shown["spares"], shown["target_wait_p95"]) == (1, 30.0)
    assert shown["spares_reason"].startswith("p95 wait")
    assert 0 <= shown["spares_wait_p95"] <= 30  # the forecast met the target with its floor
    scraped = api(server, "GET", "/metrics").text
    assert 'lessor_pool_forecast_wait_seconds{pool="sized"}' in scraped
    (changed,) = events(server, pool="sized", kind="pool.spares")
    assert changed["details"] == {"spares": 1, "was": None}
    # (Spares started before the first sizing, up to max_prealloc, stay until idle_time.)
    wait_until(lambda: up(server, "sized"), message="a spare")
    listed = server.lessor("pools", check=True).stdout
    assert "1 (1-3)" in listed and "sized: target p95 30 s: p95 wait" in listed
    page = api(server, "GET", "/").text  # the overview says the same
    assert "target p95 wait 30.0 s, 0.5/h a resource: p95 wait" in page
    assert "spares (1-3)" in page
