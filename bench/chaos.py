"""The chaos suite's long runs: tests/chaos/harness.py (one copy) for many tickets.

Real servers on SQLite or on a throwaway PostgreSQL cluster (tests/conftest.py's
throwaway_pg), the chaotic fake cloud, clients on random servers and faults at
random (kill -9, SIGSTOP of any server and of the leader, a server joining and
leaving, and on PostgreSQL a `pg_ctl restart -m immediate` every --pg-every s);
then quiescence and the invariant table, the fault counts and the throughput.
Exits 1 if an invariant fails.

    .venv/bin/python bench/chaos.py --store postgres --servers 3 --tickets 2000 --seed 1
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.chaos import harness
from tests.conftest import PgCluster, server_starter, throwaway_pg


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tickets", type=int, default=10_000)
    p.add_argument("--servers", type=int, default=1)
    p.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--pg-every", type=float, default=120, help="seconds between PG restarts")
    a = p.parse_args()
    if a.store == "sqlite" and a.servers != 1:
        p.error(f"--servers {a.servers}: SQLite has one server per database")
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lessor-chaos-")))
        pg: PgCluster | None = None
        if a.store == "postgres":
            pg = stack.enter_context(throwaway_pg())
            db = pg.new_database(durable=True)
        else:
            db = f"sqlite:///{tmp / 'chaos.sqlite'}"
        start = stack.enter_context(server_starter(tmp))
        cluster = harness.servers_for(start, tmp, db, a.servers, pg)
        began = time.monotonic()
        record = harness.run(
            cluster,
            24 * 3600,
            a.clients,
            seed=a.seed,
            pg_restart=pg is not None,
            tickets=a.tickets,
            pg_every=a.pg_every,
        )
        load = time.monotonic() - began
        harness.quiesce(cluster.servers[0], tmp / "cloud", timeout=300)
        results = harness.invariants(cluster, record, tmp / "cloud")
        took = time.monotonic() - began
        print(
            f"{a.store}, {a.servers} server(s), {len(record.opened)} tickets, seed {a.seed}: "
            f"load {load:.0f} s ({len(record.opened) / load:.2f} tickets/s), "
            f"with quiescence and checks {took:.0f} s"
        )
        print(harness.table(results))
        return 0 if all(ok for _, ok in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
