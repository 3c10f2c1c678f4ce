"""/metrics scraped from a real server, parsed as Prometheus would: the numbers match the state."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url
from tests.conftest import EXAMPLES, PgCluster, ServerProcess, wait_until

POOLS = """
good:
  max: 3
  max_prealloc: 2
  tags: [good]
  cmd_new: "echo 10.0.0.1"
  cmd_delete: "true"
bad:
  max: 1
  max_prealloc: 1
  tags: [bad]
  cmd_new: "echo cannot boot >&2; exit 3"
  cmd_delete: "true"
sick:
  max: 1
  max_prealloc: 1
  tags: [sick]
  cmd_new: "echo 10.0.0.3"
  cmd_livecheck: "exit 1"
  livecheck_period: 0.1
  livecheck_attempts: 2
  cmd_delete: "true"
"""

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(server: ServerProcess) -> Samples:
    with server.client() as c:
        answer = c.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(answer.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_metrics_count_resources_tickets_waits_hooks_and_failures(
    tmp_path: Path, start_server: Callable[..., ServerProcess]
) -> None:
    pools = tmp_path / "pools.yaml"
    pools.write_text(POOLS)
    server = start_server(pools)

    def resources(pool: str, state: str) -> int:
        with server.client() as c:
            rows = c.get("/api/v1/resources", params={"pool": pool}).json()
        return sum(r["state"] == state for r in rows)

    wait_until(lambda: resources("good", "UP") == 2, message="two good spares")
    tid = int(server.lessor("ticket", "--tag", "good", check=True).stdout)
    with server.client() as c:
        assert c.get(f"/api/v1/tickets/{tid}", params={"wait": 10}).json()["state"] == "ASSIGNED"
    # The sick spare fails its livechecks twice and is replaced; the bad pool never boots.
    m = wait_until(
        lambda: (
            (s := scrape(server))
            and value(s, "lessor_livecheck_failures_total", pool="sick") >= 2
            and value(s, "lessor_hook_failures_total", pool="bad", hook="cmd_new") >= 1
            and value(s, "lessor_resources", pool="good", state="UP") == 2  # topped up again
            and s
        ),
        message="failures counted and the good pool topped up",
    )
    assert isinstance(m, dict)

    assert value(m, "lessor_resources", pool="good", state="TAKEN") == 1
    assert value(m, "lessor_resources", pool="good", state="UP") == resources("good", "UP")
    assert value(m, "lessor_pool_max", pool="good") == 3
    assert value(m, "lessor_pool_max_prealloc", pool="good") == 2
    assert value(m, "lessor_tickets", state="ASSIGNED") == 1
    assert value(m, "lessor_tickets", state="OPEN") == 0
    assert value(m, "lessor_tickets_waiting") == 0
    # One assignment, from a ready spare: in the lowest bucket that holds it.
    assert value(m, "lessor_ticket_wait_seconds_count") == 1
    assert value(m, "lessor_ticket_wait_seconds_bucket", le="1.0") == 1
    # Every good resource ran cmd_new once, each well under a second.
    assert value(m, "lessor_hook_duration_seconds_count", pool="good", hook="cmd_new") == 3
    fast = value(m, "lessor_hook_duration_seconds_bucket", pool="good", hook="cmd_new", le="5.0")
    assert fast == 3
    assert value(m, "lessor_hook_failures_total", pool="good", hook="cmd_new") == 0
    assert value(m, "lessor_hook_duration_seconds_count", pool="sick", hook="cmd_livecheck") >= 2

    # A waiting ticket shows as waiting, with its age.
    server.lessor("ticket", "--tag", "bad", check=True)
    waiting = scrape(server)
    assert value(waiting, "lessor_tickets", state="OPEN") == 1
    assert value(waiting, "lessor_tickets_waiting") == 1
    assert value(waiting, "lessor_ticket_oldest_wait_seconds") >= 0


@pytest.mark.postgres
def test_readyz_turns_unready_with_the_reason_when_the_database_goes_away(
    pg_cluster: PgCluster, start_server: Callable[..., ServerProcess]
) -> None:
    url = pg_cluster.new_database()
    server = start_server(EXAMPLES / "pools.yaml", db=url)
    with server.client() as c:
        assert c.get("/readyz").json() == {"status": "ready"}
        name = make_url(url).database
        admin = pg_cluster.url("postgres").replace("+psycopg", "")
        with psycopg.connect(admin, autocommit=True) as pg:
            pg.execute(f'DROP DATABASE "{name}" WITH (FORCE)')

        def unready() -> httpx.Response | None:
            answer = c.get("/readyz")
            return answer if answer.status_code == 503 else None

        answer = wait_until(unready, message="/readyz to notice")
        assert isinstance(answer, httpx.Response)
        assert "database unreachable" in answer.json()["detail"]
        assert c.get("/healthz").status_code == 200  # the process itself is fine
