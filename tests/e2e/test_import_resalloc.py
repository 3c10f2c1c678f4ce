"""Switching from resalloc: its database is taken over, its running VMs neither leaked nor remade.

The test builds a database in resalloc's schema (as resallocserver/models.py
and its migrations define it), imports it with the real CLI, starts `lessor
server` on the result and talks to it with resalloc's client protocol.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import xmlrpc.client
from collections.abc import Callable
from pathlib import Path

import httpx
import sqlalchemy as sa
from tests.conftest import ServerProcess, wait_until

meta = sa.MetaData()
sa.Table(
    "pools",
    meta,
    sa.Column("name", sa.String, primary_key=True),
    sa.Column("last_start", sa.Float),
    sa.Column("cleaning_unknown_resources", sa.DateTime),
    sa.Column("max", sa.Integer),
)
sa.Table(
    "tickets",
    meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("resource_id", sa.Integer, sa.ForeignKey("resources.id", use_alter=True)),
    sa.Column("state", sa.String),
    sa.Column("tid", sa.String),
    sa.Column("sandbox", sa.String, nullable=True),
)
sa.Table(
    "resources",
    meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String),
    sa.Column("user", sa.String),
    sa.Column("data", sa.LargeBinary),
    sa.Column("pool", sa.String, nullable=False),
    sa.Column("state", sa.String, nullable=False),
    sa.Column("check_last_time", sa.Float),
    sa.Column("check_failed_count", sa.Integer),
    sa.Column("ticket_id", sa.Integer, sa.ForeignKey("tickets.id"), unique=True),
    sa.Column("sandbox", sa.String),
    sa.Column("sandboxed_since", sa.Float),
    sa.Column("released_at", sa.Float),
    sa.Column("releases_counter", sa.Integer),
)
sa.Table(
    "ids_within_pool",
    meta,
    sa.Column("resource_id", sa.Integer, sa.ForeignKey("resources.id"), primary_key=True),
    sa.Column("pool_name", sa.String, sa.ForeignKey("pools.name")),
    sa.Column("id", sa.Integer),
    sa.UniqueConstraint("id", "pool_name"),
)
sa.Table(
    "resource_tags",
    meta,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("resource_id", sa.Integer, sa.ForeignKey("resources.id"), primary_key=True),
    sa.Column("priority", sa.Integer),
)
sa.Table(
    "ticket_tags",
    meta,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("ticket_id", sa.Integer, sa.ForeignKey("tickets.id"), primary_key=True),
)
sa.Table(
    "named_counters",
    meta,
    sa.Column("resource_id", sa.Integer, sa.ForeignKey("resources.id"), nullable=False),
    sa.Column("value", sa.Integer, primary_key=True),
    sa.Column("counter_name", sa.String, primary_key=True),
)

NOW = 1_750_000_000.0
NAMES = {rid: f"copr_{rid:08d}_20250615_120000" for rid in range(1, 10)}

CLOUD = """#!/bin/sh
set -eu
case $1 in
new)
    touch "$CLOUD/$RESALLOC_NAME"
    printf '10.0.1.%s\\n' "$RESALLOC_ID"
    ;;
delete)
    rm -f "$CLOUD/$RESALLOC_NAME"
    env | grep '^RESALLOC_' | sort > "$TRACE/$RESALLOC_ID.tmp"
    rm -f "$CLOUD/$RESALLOC_NAME"  # gone before the trace says so: the test looks then
    mv "$TRACE/$RESALLOC_ID.tmp" "$TRACE/$RESALLOC_ID.deleted"
    ;;
esac
"""


def resalloc_database(path: Path, cloud: Path) -> str:
    """A resalloc server stopped in the middle of its day."""
    url = f"sqlite:///{path}"
    engine = sa.create_engine(url)
    meta.create_all(engine)
    t = meta.tables

    def vm(rid: int, state: str, **extra: object) -> dict[str, object]:
        row: dict[str, object] = {
            "id": rid,
            "name": NAMES[rid],
            "pool": "copr",
            "state": state,
            "check_last_time": NOW,
            "check_failed_count": 0,
            "releases_counter": 0,
            "data": None,
            "ticket_id": None,
            "sandbox": None,
            "sandboxed_since": None,
            "released_at": None,
        }
        return {**row, **extra}

    resources = [vm(rid, "ENDED", data=f"10.0.0.{rid}\n".encode()) for rid in range(1, 6)]
    resources += [
        vm(6, "UP", data=b"10.0.0.6\n"),  # a free spare
        vm(7, "UP", data=b"10.0.0.7\n", ticket_id=12, sandbox="user/proj", sandboxed_since=NOW),
        vm(8, "STARTING"),  # cmd_new was cut off by the stop
        vm(9, "DELETE_REQUEST", data=b"10.0.0.9\n"),
    ]
    tickets = [
        {"id": 10, "state": "CLOSED", "resource_id": 3, "sandbox": "old"},
        {"id": 11, "state": "FAILED", "resource_id": None, "sandbox": None},
        {"id": 12, "state": "OPEN", "resource_id": 7, "sandbox": "user/proj"},
        {"id": 13, "state": "OPEN", "resource_id": None, "sandbox": None},
        {"id": 14, "state": "CLOSED", "resource_id": 5, "sandbox": None},
    ]
    with engine.begin() as conn:
        conn.execute(t["pools"].insert(), [{"name": "copr", "last_start": NOW, "max": 4}])
        conn.execute(t["tickets"].insert(), tickets)
        conn.execute(t["resources"].insert(), resources)
        conn.execute(
            t["ids_within_pool"].insert(),
            [
                {"resource_id": 6, "pool_name": "copr", "id": 1},
                {"resource_id": 7, "pool_name": "copr", "id": 0},
                {"resource_id": 8, "pool_name": "copr", "id": 2},
                {"resource_id": 9, "pool_name": "copr", "id": 3},
            ],
        )
        conn.execute(
            t["named_counters"].insert(),
            [
                {"resource_id": 6, "counter_name": "tap", "value": 1},
                {"resource_id": 7, "counter_name": "tap", "value": 0},
            ],
        )
        conn.execute(
            t["resource_tags"].insert(),
            [
                {"id": tag, "resource_id": rid, "priority": 0}
                for rid in (6, 7, 9)
                for tag in ("copr_builder", "x86_64")
            ],
        )
        conn.execute(
            t["ticket_tags"].insert(),
            [
                {"id": "copr_builder", "ticket_id": 12},
                {"id": "copr_builder", "ticket_id": 13},
                {"id": "x86_64", "ticket_id": 13},
                {"id": "sparc", "ticket_id": 11},
            ],
        )
    engine.dispose()
    for rid in (6, 7, 8, 9):
        (cloud / NAMES[rid]).touch()  # what really runs in the cloud
    return url


def test_import_takes_over_live_vms_and_open_tickets_without_remaking_them(
    start_server: Callable[..., ServerProcess], tmp_path: Path, db_url: str
) -> None:
    cloud, trace, etc = tmp_path / "vms", tmp_path / "trace", tmp_path / "etc"
    for d in (cloud, trace, etc):
        d.mkdir()
    script = tmp_path / "cloud.sh"
    script.write_text(CLOUD)
    script.chmod(0o755)
    (etc / "server.yaml").write_text(f"db_url: '{db_url}'\nlogdir: {tmp_path / 'logs'}\n")
    (etc / "pools.yaml").write_text(
        "copr:\n  max: 4\n  max_prealloc: 2\n  tags: [copr_builder, x86_64]\n"
        "  named_counters: [tap]\n"
        f"  cmd_new: {script} new\n  cmd_delete: {script} delete\n"
    )
    source = resalloc_database(tmp_path / "resalloc.sqlite", cloud)
    env = {"CONFIG_DIR": str(etc), "CLOUD": str(cloud), "TRACE": str(trace)}
    env["LESSOR_HOOK_ENV"] = "CLOUD TRACE"  # the server's variables its hooks get

    def lessor(*args: str) -> tuple[int, str, str]:
        done = subprocess.run(
            [sys.executable, "-m", "lessor.cli", *args],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return done.returncode, done.stdout, done.stderr

    code, out, err = lessor("import-resalloc", "--from", source, "--dry-run")
    assert code == 0, err
    assert "resources: 2 DELETE_REQUESTED, 1 ENDED, 1 TAKEN, 1 UP" in out
    assert "tickets: 1 ASSIGNED, 1 CLOSED, 1 FAILED, 1 OPEN" in out
    assert "nothing written" in out

    code, out, err = lessor("import-resalloc", "--from", source)
    assert code == 0, err
    code, _, err = lessor("import-resalloc", "--from", source)
    assert code == 1 and "already has tickets or resources" in err  # never twice

    server = start_server(etc / "pools.yaml", extra=("--config-dir", str(etc)), **env)
    conn = xmlrpc.client.ServerProxy(server.url)
    # the client holding ticket 12 notices nothing
    assert conn.collectTicket("12") == {
        "ready": True,
        "output": xmlrpc.client.Binary(b"10.0.0.7\n"),
        "closed": False,
        "failed": False,
    }
    assert conn.waitTicket("12").data == b"10.0.0.7\n"
    # the waiting ticket gets the imported spare, made by nobody
    assert conn.waitTicket("13").data == b"10.0.0.6\n"
    assert conn.collectTicket(11)["failed"] is True
    # a closed ticket still has its (ended) resource's data
    assert conn.collectTicket(14)["output"] == xmlrpc.client.Binary(b"10.0.0.5\n")
    assert conn.collectTicket(14)["closed"] is True

    # cut-off and doomed resources are deleted, with their names
    wait_until(lambda: (trace / "8.deleted").exists() and (trace / "9.deleted").exists())
    assert not (cloud / NAMES[8]).exists() and not (cloud / NAMES[9]).exists()

    # the imported VMs were not made again, and new ones count on after resalloc's ids
    hooks = tmp_path / "logs" / "hooks"
    assert not (hooks / "000006_alloc").exists() and not (hooks / "000007_alloc").exists()
    with server.client() as c:
        wait_until(lambda: len(_up(c)) == 2, message="2 new spares")
        live = c.get("/api/v1/resources").json()
    new = [r for r in live if r["id"] not in (6, 7, 8, 9)]
    assert new and all(r["id"] >= 10 for r in new)
    assert {r["name"] for r in live} >= {NAMES[6], NAMES[7]}
    assert len({r["id_in_pool"] for r in live if r["state"] != "ENDED"}) == len(live)
    assert conn.takeTicket(["copr_builder"]) == 15

    # closing the imported ticket deletes the imported VM with resalloc's data and numbers
    conn.closeTicket(12)
    wait_until((trace / "7.deleted").exists, message="cmd_delete of the imported VM")
    seen = dict(line.split("=", 1) for line in (trace / "7.deleted").read_text().splitlines())
    assert seen["RESALLOC_NAME"] == NAMES[7]
    assert base64.b64decode(seen["RESALLOC_RESOURCE_DATA"]) == b"10.0.0.7\n"
    assert seen["RESALLOC_ID_IN_POOL"] == "0" and seen["RESALLOC_NAMED_COUNTER_tap"] == "0"
    assert not (cloud / NAMES[7]).exists()


def _up(c: httpx.Client) -> list[dict[str, object]]:
    return [r for r in c.get("/api/v1/resources").json() if r["state"] == "UP"]


def _tree(top: Path) -> dict[str, tuple[int, float]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime) for p in top.rglob("*")}


def test_a_dry_run_writes_nothing_anywhere(tmp_path: Path) -> None:
    cloud, etc = tmp_path / "vms", tmp_path / "etc"
    cloud.mkdir()
    etc.mkdir()
    source = resalloc_database(tmp_path / "resalloc.sqlite", cloud)
    (etc / "server.yaml").write_text(f"db_url: sqlite:///{tmp_path / 'lessor.sqlite'}\n")
    before = _tree(tmp_path)
    resalloc_bytes = (tmp_path / "resalloc.sqlite").read_bytes()

    def dry_run(source: str) -> subprocess.CompletedProcess[str]:
        args = ["--from", source, "--dry-run", "--config-dir", etc, "--data-dir", tmp_path / "d"]
        return subprocess.run(
            [sys.executable, "-m", "lessor.cli", "import-resalloc", *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    done = dry_run(source)
    assert done.returncode == 0, done.stderr
    assert "nothing written" in done.stdout
    # A mistyped source is named, not created as an empty database.
    typo = tmp_path / "resaloc.sqlite"
    mistyped = dry_run(f"sqlite:///{typo}")
    assert mistyped.returncode == 2 and "Traceback" not in mistyped.stderr
    assert mistyped.stderr == (
        f"lessor import-resalloc: --from sqlite:///{typo}: no such file {typo}; "
        "give the resalloc database to read\n"
    )
    assert _tree(tmp_path) == before  # neither lessor's database nor a data dir, nor the typo
    assert (tmp_path / "resalloc.sqlite").read_bytes() == resalloc_bytes
