"""Several servers on one database: PostgreSQL shares, SQLite refuses.

A second server started on the PostgreSQL database of a first must leave the
first one's hooks alone (they are its claims, renewed while they run), and
take over only what a dead server left once its claims' lease ran out.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil
import pytest
from tests.conftest import PgCluster, ServerProcess, wait_until
from tests.e2e.helpers import api, events, open_ticket, resource, resources, ticket, write_pools

POOLS = """
slow:
  max: 1
  max_prealloc: 1
  tags: [slow]
  cmd_new: ./fake-cloud new
  cmd_delete: ./fake-cloud delete
"""


def _pools(tmp_path: Path) -> Path:
    path = write_pools(tmp_path / "pools.yaml", POOLS)
    (tmp_path / "fake-cloud").symlink_to(Path(__file__).parents[2] / "examples" / "fake-cloud")
    return path


def _ready(server: ServerProcess) -> None:
    def ready() -> bool:
        return httpx.get(f"{server.url}/readyz", timeout=2).status_code == 200

    wait_until(ready, timeout=30, message="the server's reconciler to run")


def _instances(tmp_path: Path) -> list[str]:
    cloud = tmp_path / "cloud"
    return sorted(p.parent.name for p in cloud.glob("*/pid")) if cloud.exists() else []


@pytest.mark.postgres
def test_a_second_server_leaves_the_first_ones_hooks_alone(
    start_server: Callable[..., ServerProcess], pg_cluster: object, tmp_path: Path
) -> None:
    db = pg_cluster.new_database()  # type: ignore[attr-defined]
    pools = _pools(tmp_path)
    slow = {"FAKE_CLOUD_BOOT_SECONDS": "4"}
    a = start_server(pools, db=db, data=tmp_path / "a", **slow)
    tid = open_ticket(a, "--tag", "slow")
    wait_until(lambda: [r["state"] for r in resources(a)] == ["STARTING"], timeout=20)

    b = start_server(pools, db=db, data=tmp_path / "b", **slow)
    _ready(b)
    wait_until(lambda: ticket(b, tid)["state"] == "ASSIGNED", timeout=30)
    (made,) = resources(b)
    assert made["state"] == "TAKEN"
    assert not events(b, kind="resource.delete_requested")
    assert _instances(tmp_path) == [made["name"]]


@pytest.mark.postgres
def test_a_dead_servers_hook_is_recovered_by_another_once_its_lease_runs_out(
    start_server: Callable[..., ServerProcess], pg_cluster: object, tmp_path: Path
) -> None:
    db = pg_cluster.new_database()  # type: ignore[attr-defined]
    pools = _pools(tmp_path)
    a = start_server(pools, db=db, data=tmp_path / "a", FAKE_CLOUD_BOOT_SECONDS="60")
    tid = open_ticket(a, "--tag", "slow")
    wait_until(lambda: [r["state"] for r in resources(a)] == ["STARTING"], timeout=20)
    (cut,) = resources(a)
    b = start_server(pools, db=db, data=tmp_path / "b", FAKE_CLOUD_BOOT_SECONDS="0.2")
    _ready(b)
    a.kill9()
    _kill_hooks_of(cut["name"])  # the dead server's machine, and its hooks, are gone

    # cut off: its cmd_delete runs on b, and the ticket gets a new resource from b
    wait_until(lambda: ticket(b, tid)["state"] == "ASSIGNED", timeout=60)
    ended = [r for r in resources(b, all=True) if r["id"] == cut["id"]]
    assert [r["state"] for r in ended] == ["ENDED"]
    recovered = events(b, kind="resource.delete_requested")
    assert [e["resource_id"] for e in recovered] == [cut["id"]]
    held = resource(b, ticket(b, tid)["resource_id"])
    assert _instances(tmp_path) == [held["name"]]


def _kill_hooks_of(name: str) -> None:
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if proc.environ().get("RESALLOC_NAME") == name:
                proc.kill()


ONE = """
one:
  max: 1
  max_prealloc: 1
  tags: [one]
  cmd_new: ./fake-cloud new
  cmd_delete: ./fake-cloud delete
"""


@pytest.mark.postgres
def test_a_wait_held_by_one_server_is_answered_the_moment_another_assigns(
    start_server: Callable[..., ServerProcess], pg_cluster: object, tmp_path: Path
) -> None:
    db = pg_cluster.new_database()  # type: ignore[attr-defined]
    pools = _pools(tmp_path).with_name("one.yaml")
    write_pools(pools, ONE)
    a = start_server(pools, db=db, data=tmp_path / "a")
    b = start_server(pools, db=db, data=tmp_path / "b")
    _ready(b)
    wait_until(lambda: [r["state"] for r in resources(a)] == ["UP"], timeout=30)
    first = open_ticket(a, "--tag", "one")
    assert ticket(a, first)["state"] == "ASSIGNED"
    second = open_ticket(b, "--tag", "one")
    answered: list[tuple[float, dict[str, object]]] = []

    def long_poll() -> None:  # a client of b, waiting up to a minute
        got = api(b, "GET", f"/api/v1/tickets/{second}", params={"wait": 60}, timeout=90)
        answered.append((time.monotonic(), got.json()))

    waiter = threading.Thread(target=long_poll)
    waiter.start()
    closed_at = time.monotonic()
    a.lessor("ticket-close", str(first), check=True)
    waiter.join(90)
    ((at, got),) = answered
    assert got["state"] == "ASSIGNED"
    assert at - closed_at < 15  # woken by a's (or the leader's) commit, not by its timeout


GATED = """
gated:
  max: 1
  max_prealloc: 1
  tags: [gated]
  cmd_new: ./fake-cloud new
  cmd_delete: while [ ! -e gate ]; do sleep 0.05; done; ./fake-cloud delete
"""


@pytest.mark.postgres
def test_a_hook_that_ends_while_postgresql_is_down_is_recorded_once_it_is_back(
    start_server: Callable[..., ServerProcess], pg_cluster: PgCluster, tmp_path: Path
) -> None:
    pools = _pools(tmp_path).with_name("gated.yaml")
    write_pools(pools, GATED)
    a = start_server(pools, db=pg_cluster.new_database(durable=True), data=tmp_path / "a")
    tid = open_ticket(a, "--tag", "gated")
    assert ticket(a, tid)["state"] == "ASSIGNED"
    a.lessor("ticket-close", str(tid), check=True)

    def deleting() -> bool:
        started = events(a, kind="hook.started")
        return any(e["details"]["hook"] == "cmd_delete" for e in started)

    wait_until(deleting, timeout=30, message="cmd_delete to start")
    (held,) = resources(a)
    pg_cluster.stop()
    try:
        (tmp_path / "gate").touch()  # cmd_delete ends while the database is away
        wait_until(lambda: not _instances(tmp_path), timeout=30, message="cmd_delete")
    finally:
        pg_cluster.start()
    # the server that ran it records it: not left DELETING under a claim it keeps renewing
    wait_until(
        lambda: resource(a, held["id"])["state"] == "ENDED",
        timeout=60,
        message="the deleted resource to be ENDED",
    )


def test_a_second_server_on_one_sqlite_file_refuses_to_start_with_one_line(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'one.sqlite'}"
    first = start_server(db=db, data=tmp_path / "a")
    args = [a if a != str(tmp_path / "a") else str(tmp_path / "b") for a in first.args]
    port = args.index("--port") + 1
    args[port] = str(int(args[port]) + 1)
    second = subprocess.run(
        args, check=False, env=first.env, capture_output=True, text=True, timeout=60
    )
    assert second.returncode != 0
    said = second.stderr.strip().splitlines()
    assert len(said) == 1, said
    assert "one server per SQLite database file" in said[0]
    assert "Traceback" not in second.stderr


def test_a_second_server_on_one_log_directory_refuses_to_start(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    first = start_server(db=f"sqlite:///{tmp_path / 'one.sqlite'}", data=tmp_path / "a")
    args = list(first.args)
    args[args.index("--db") + 1] = f"sqlite:///{tmp_path / 'two.sqlite'}"
    port = args.index("--port") + 1
    args[port] = str(int(args[port]) + 1)
    second = subprocess.run(
        args, check=False, env=first.env, capture_output=True, text=True, timeout=60
    )
    assert second.returncode != 0
    assert "uses the log directory" in second.stderr, second.stderr


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, check=False, env=env, capture_output=True, text=True, timeout=60)
