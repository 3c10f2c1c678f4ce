"""The chaos suite: real servers, a chaotic cloud, clients, and faults; then the invariants.

Three servers on a throwaway PostgreSQL (kill -9, SIGSTOP/SIGCONT of any server
and of the leader until another leads, a fourth server joining then leaving, a
`pg_ctl restart -m immediate` mid-load) and one on SQLite (kill -9), with a fake cloud
whose hooks fail, hang and are slow at random. At the end, from the event log and
the cloud's own records: no ticket lost, none assigned twice, no instance leaked,
caps never exceeded, no server error a client saw, a paused leader replaced and
fenced.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.chaos import harness
from tests.conftest import PgCluster, ServerProcess

SECONDS = 30
"""Long enough for several faults, a PostgreSQL restart, a paused leader and a server
joining; a longer run would find more."""


def _check(cluster: harness.Cluster, record: harness.Record, tmp_path: Path) -> None:
    server = cluster.servers[0]
    print(
        f"\nopened {len(record.opened)}, closed {len(record.closed)}, cut {record.cut}, "
        f"faults {dict(cluster.faults)}, errors {record.server_errors[:3]}"
    )
    harness.quiesce(server, tmp_path / "cloud")
    results = harness.invariants(cluster, record, tmp_path / "cloud")
    print("\n" + harness.table(results))
    assert all(ok for _, ok in results.values()), harness.table(results)


@pytest.mark.postgres
@pytest.mark.timeout(200)
def test_three_servers_on_postgresql_under_faults(
    start_server: Callable[..., ServerProcess], pg_cluster: PgCluster, tmp_path: Path
) -> None:
    db = pg_cluster.new_database(durable=True)
    cluster = harness.servers_for(start_server, tmp_path, db, 3, pg_cluster)
    record = harness.run(cluster, SECONDS, clients=4, seed=17, pg_restart=True)
    _check(cluster, record, tmp_path)


@pytest.mark.timeout(200)
def test_one_server_on_sqlite_under_faults(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'chaos.sqlite'}"
    cluster = harness.servers_for(start_server, tmp_path, db, 1, None)
    record = harness.run(cluster, SECONDS / 3, clients=3, seed=7, pg_restart=False)
    _check(cluster, record, tmp_path)


def test_the_caps_are_read_from_the_clouds_own_ledger(tmp_path: Path) -> None:
    """A cmd_new killed mid-way (no end line) ends at its last heartbeat; a cap broken
    in the cloud shows, whatever the event log says."""
    (tmp_path / "starting").mkdir()
    (tmp_path / "ledger").write_text(
        "10.0 new a s0\n10.5 up a s0\n11.0 new b s1\n11.2 new c s0\n"
        "12.0 new d s0\n12.1 failed c s0\n12.5 up d s0\n13.0 delete c s0\n20.0 delete a s0\n"
    )
    killed = tmp_path / "starting" / "b"
    killed.touch()
    os.utime(killed, (12.2, 12.2))  # b is being made until 12.2: overlaps c and d
    assert harness.most_at_once(tmp_path) == (4, 3)
