"""examples/credentials against the suite's throwaway PostgreSQL: a role minted per ticket."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import psycopg
import pytest
from tests.conftest import EXAMPLES, PgCluster, ServerProcess, wait_until
from tests.e2e.helpers import api, resource, ticket

pytestmark = pytest.mark.postgres


def password_only(cluster: PgCluster, db: str) -> None:
    """Roles log into `db` by password (VALID UNTIL counts only then); the admin by trust.
    Other databases of the shared cluster keep its rules."""
    hba = cluster.datadir / "pg_hba.conf"
    rules = f"local {db} postgres trust\nlocal {db} all scram-sha-256\n"
    hba.write_text(rules + hba.read_text())
    with psycopg.connect(host=str(cluster.sockdir), port=cluster.port, user="postgres") as c:
        c.execute("SELECT pg_reload_conf()")


def login(cluster: PgCluster, cred: dict[str, str]) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(
        host=str(cluster.sockdir),
        port=cluster.port,
        dbname=cred["dbname"],
        user=cred["user"],
        password=cred["password"],
        autocommit=True,
    )


def logs_in(cluster: PgCluster, cred: dict[str, str]) -> bool:
    try:
        login(cluster, cred).close()
    except psycopg.OperationalError:
        return False
    return True


def test_a_role_per_ticket_is_scoped_to_its_schema_and_dropped_at_its_end_even_after_kill_9(
    start_server: Callable[..., ServerProcess], pg_cluster: PgCluster, tmp_path: Path
) -> None:
    url = urlparse(pg_cluster.new_database())
    db = url.path.lstrip("/")
    password_only(pg_cluster, db)
    admin = {"host": str(pg_cluster.sockdir), "port": pg_cluster.port, "user": "postgres"}
    with psycopg.connect(dbname=db, autocommit=True, **admin) as c:  # type: ignore[arg-type]
        c.execute("CREATE SCHEMA work; CREATE SCHEMA other; CREATE TABLE other.secret (x int)")
    assert parse_qs(url.query)["host"] == [str(pg_cluster.sockdir)]
    env = {
        "PGHOST": str(pg_cluster.sockdir),
        "PGPORT": str(pg_cluster.port),
        "PGUSER": "postgres",
        "PGDATABASE": db,
        "PG_ROLE_SCHEMA": "work",
        "LESSOR_HOOK_ENV": "PG*",
    }
    pools = EXAMPLES / "credentials" / "pools.yaml"
    server = start_server(pools, **env)

    def held(ttl: float | None) -> tuple[int, str, dict[str, str]]:
        body: dict[str, object] = {"tags": ["pg-role"]}
        if ttl is not None:
            body["ttl"] = ttl
        opened = api(server, "POST", "/api/v1/tickets", json=body).json()
        tid, key = opened["id"], opened["key"]
        out = server.lessor("ticket-wait", str(tid), check=True, LESSOR_TICKET_KEY=key).stdout
        return tid, key, json.loads(out)

    # Held: it logs in, uses its schema, and nothing else; it expires with the lease.
    tid, key, cred = held(600)
    with login(pg_cluster, cred) as c:
        c.execute("CREATE TABLE work.t (x int); INSERT INTO work.t VALUES (1)")
        assert c.execute("SELECT x FROM t").fetchall() == [(1,)]  # search_path: its schema
        for denied in ("SELECT * FROM other.secret", "CREATE TABLE other.mine (x int)"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                c.execute(denied)
    with psycopg.connect(dbname=db, **admin) as c:  # type: ignore[arg-type]
        (until,) = c.execute(
            "SELECT extract(epoch FROM rolvaliduntil) FROM pg_roles WHERE rolname = %s",
            (cred["user"],),
        ).fetchone()  # type: ignore[misc]
    lease_end = api(server, "GET", f"/api/v1/tickets/{tid}").json()["expires_at"]
    end = datetime.fromisoformat(lease_end).timestamp()
    assert end <= float(until) < end + 1  # VALID UNTIL the lease end, to the second

    # Closed: revoked, it cannot log in any more.
    rid = ticket(server, tid)["resource_id"]
    server.lessor("ticket-close", str(tid), check=True, LESSOR_TICKET_KEY=key)
    wait_until(lambda: resource(server, rid)["state"] == "ENDED", message="the role dropped")
    assert not logs_in(pg_cluster, cred)

    # kill -9 mid-ticket: after a restart, the role still goes when its ticket closes or
    # when its lease runs out.
    closed_later, closed_key, first = held(None)
    _, _, second = held(4)
    assert logs_in(pg_cluster, first) and logs_in(pg_cluster, second)
    server.kill9()
    server = start_server(pools, **env)
    wait_until(lambda: not logs_in(pg_cluster, second), timeout=30, message="expiry, revoked")
    assert logs_in(pg_cluster, first)
    server.lessor("ticket-close", str(closed_later), check=True, LESSOR_TICKET_KEY=closed_key)
    wait_until(lambda: not logs_in(pg_cluster, first), message="close after a restart, revoked")
    with psycopg.connect(dbname=db, **admin) as c:  # type: ignore[arg-type]
        left = c.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE 'lessor_%'").fetchall()
    assert left == []
