"""A resalloc operator's pools, run by `lessor server` on SQLite and on PostgreSQL.

The hooks are a pretend cloud in the test's directory: a "VM" is a file
named after RESALLOC_NAME, and every hook leaves a trace of what it saw.
"""

from __future__ import annotations

import subprocess
import sys
import xmlrpc.client
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import ServerProcess, wait_until

CLOUD = """#!/bin/sh
set -eu
vm="$CLOUD/$RESALLOC_NAME"
case $1 in
new)
    touch "$vm"
    env | grep '^RESALLOC_' | sort > "$TRACE/$RESALLOC_NAME.tmp"
    mv "$TRACE/$RESALLOC_NAME.tmp" "$TRACE/$RESALLOC_NAME.env"
    echo "$RESALLOC_NAME"
    ;;
livecheck)
    echo "$RESALLOC_ID" >> "$TRACE/livechecks"
    test -e "$vm"
    ;;
release)
    echo "$RESALLOC_NAME" >> "$TRACE/released"
    ;;
delete)
    rm -f "$vm"
    echo "$RESALLOC_ID $RESALLOC_NAME" >> "$TRACE/deleted"
    ;;
list)
    ls "$CLOUD"
    ;;
esac
"""


@dataclass
class Farm:
    """A running server with its pretend cloud."""

    server: ServerProcess
    cloud: Path
    trace: Path
    config_dir: Path

    def resources(self, pool: str | None = None) -> list[dict[str, Any]]:
        with self.server.client() as c:
            rows = c.get("/api/v1/resources", params={"pool": pool} if pool else None).json()
        return rows  # type: ignore[no-any-return]

    def resource(self, rid: int) -> dict[str, Any]:
        with self.server.client() as c:
            return c.get(f"/api/v1/resources/{rid}").json()  # type: ignore[no-any-return]

    def up(self, pool: str) -> list[dict[str, Any]]:
        return [r for r in self.resources(pool) if r["state"] == "UP"]

    def rpc(self) -> xmlrpc.client.ServerProxy:
        return xmlrpc.client.ServerProxy(self.server.url)

    def lines(self, name: str) -> list[str]:
        path = self.trace / name
        return path.read_text().splitlines() if path.exists() else []

    def maint(self, *args: str) -> list[str]:
        done = self.server.lessor("maint", *args, check=True, CONFIG_DIR=str(self.config_dir))
        return done.stdout.splitlines()


def farm(
    start_server: Callable[..., ServerProcess], tmp_path: Path, db_url: str, pools: str
) -> Farm:
    cloud, trace, config = tmp_path / "vms", tmp_path / "trace", tmp_path / "etc"
    for d in (cloud, trace, config):
        d.mkdir()
    script = tmp_path / "cloud.sh"
    script.write_text(CLOUD)
    script.chmod(0o755)
    (config / "pools.yaml").write_text(pools.replace("CLOUD", str(script)))
    # resalloc's server.yaml keys; the test fixture adds --host/--port/--data-dir.
    (config / "server.yaml").write_text(
        f"db_url: '{db_url}'\nlogdir: {tmp_path / 'logs'}\nsleeptime: 1\n"
        f"main_logfile: {tmp_path / 'logs' / 'main.log'}\n"
    )
    server = start_server(
        config / "pools.yaml",
        extra=("--config-dir", str(config)),
        CLOUD=str(cloud),
        TRACE=str(trace),
        LESSOR_HOOK_ENV="CLOUD TRACE",  # the server's variables its hooks get
    )
    return Farm(server, cloud, trace, config)


def test_a_big_pool_reaches_and_holds_five_spares_checked_every_second(
    start_server: Callable[..., ServerProcess], tmp_path: Path, db_url: str
) -> None:
    f = farm(
        start_server,
        tmp_path,
        db_url,
        "copr_hv_x86_64:\n  max: 15\n  max_prealloc: 5\n  livecheck_period: 1\n"
        "  tags: [copr_builder, arch_x86_64]\n"
        "  cmd_new: CLOUD new\n  cmd_livecheck: CLOUD livecheck\n  cmd_delete: CLOUD delete\n",
    )
    wait_until(lambda: len(f.up("copr_hv_x86_64")) == 5, message="5 spares UP")

    def checked_twice() -> bool:
        checks = f.lines("livechecks")
        return all(checks.count(str(rid)) >= 2 for rid in range(1, 6))

    wait_until(checked_twice, message="every spare livechecked twice")
    live = f.resources()
    assert [r["id"] for r in live] == [1, 2, 3, 4, 5]  # held at 5: nothing more was started
    assert {r["state"] for r in live} == {"UP"}
    assert sorted(p.name for p in f.cloud.iterdir()) == sorted(r["name"] for r in live)
    assert f.lines("deleted") == []


def test_on_demand_tags_start_resources_only_for_tickets(
    start_server: Callable[..., ServerProcess], tmp_path: Path, db_url: str
) -> None:
    f = farm(
        start_server,
        tmp_path,
        db_url,
        "normal:\n  max: 3\n  max_prealloc: 1\n  tags: [builder]\n"
        "  cmd_new: CLOUD new\n  cmd_delete: CLOUD delete\n"
        "big:\n  max: 2\n  max_prealloc: 2\n  tags: [builder]\n  tags_on_demand: [huge_mem]\n"
        "  cmd_new: CLOUD new\n  cmd_delete: CLOUD delete\n",
    )
    wait_until(lambda: len(f.up("normal")) == 1, message="the normal spare")
    conn = f.rpc()
    plain = conn.takeTicket(["builder"])
    assert str(conn.waitTicket(plain)).startswith("normal_")
    wait_until(lambda: len(f.up("normal")) == 1, message="the normal spare replaced")
    assert f.resources("big") == []  # on-demand: no spares, despite max_prealloc: 2

    ticket = conn.takeTicket(["builder", "huge_mem"])
    assert str(conn.waitTicket(str(ticket))).startswith("big_")
    (big,) = f.resources("big")
    assert big["state"] == "TAKEN" and big["ticket_id"] == ticket
    assert set(big["tags"]) == {"builder", "huge_mem"}


def test_sandbox_reuse_goes_to_the_same_sandbox_only(
    start_server: Callable[..., ServerProcess], tmp_path: Path, db_url: str
) -> None:
    f = farm(
        start_server,
        tmp_path,
        db_url,
        "vm:\n  max: 4\n  max_prealloc: 1\n  tags: [vm]\n  reuse_opportunity_time: 600\n"
        "  reuse_max_count: 5\n"
        "  cmd_new: CLOUD new\n  cmd_release: CLOUD release\n  cmd_delete: CLOUD delete\n",
    )
    conn = f.rpc()
    first = conn.takeTicket(["vm"], "user1/project")
    vm = str(conn.waitTicket(first)).strip()
    conn.closeTicket(first)
    wait_until(lambda: f.lines("released") == [vm], message="cmd_release")

    def released_up() -> bool:
        return any(r["name"] == vm and r["state"] == "UP" for r in f.resources())

    wait_until(released_up, message="the released VM to be UP for its sandbox")
    wait_until(lambda: len(f.up("vm")) == 2, message="a fresh spare besides it")

    other = conn.takeTicket(["vm"], "user2/project")
    assert str(conn.waitTicket(other)).strip() != vm  # never to another sandbox
    same = conn.takeTicket(["vm"], "user1/project")
    assert str(conn.waitTicket(same)).strip() == vm  # preferred over a fresh spare (+500)
    (reused,) = [r for r in f.resources() if r["name"] == vm]
    assert reused["releases"] == 1 and reused["sandbox"] == "user1/project"
    assert not any(vm in line for line in f.lines("deleted"))


def test_named_counters_give_the_smallest_free_values(
    start_server: Callable[..., ServerProcess], tmp_path: Path, db_url: str
) -> None:
    f = farm(
        start_server,
        tmp_path,
        db_url,
        "hv:\n  max: 3\n  max_prealloc: 3\n  max_starting: 3\n  tags: [hv]\n"
        "  named_counters: [tap, port]\n"
        "  cmd_new: CLOUD new\n  cmd_delete: CLOUD delete\n",
    )
    wait_until(lambda: len(f.up("hv")) == 3, message="3 resources")

    def counters() -> dict[str, tuple[str, str]]:
        found = {}
        for env in f.trace.glob("*.env"):
            values = dict(line.split("=", 1) for line in env.read_text().splitlines())
            found[env.stem] = (
                values["RESALLOC_NAMED_COUNTER_tap"],
                values["RESALLOC_NAMED_COUNTER_port"],
            )
        return found

    by_name = counters()
    assert sorted(by_name.values()) == [("0", "0"), ("1", "1"), ("2", "2")]

    middle = next(r for r in f.resources() if by_name[r["name"]] == ("1", "1"))
    f.maint("resource-delete", str(middle["id"]))
    wait_until(lambda: f.resource(middle["id"])["state"] == "ENDED", message="deletion")
    wait_until(lambda: len(counters()) == 4, message="a replacement")
    (replacement,) = set(counters()) - set(by_name)
    assert counters()[replacement] == ("1", "1")  # the freed values, not 3


def test_cmd_list_deletes_instances_nobody_tracks(
    start_server: Callable[..., ServerProcess], tmp_path: Path, db_url: str
) -> None:
    f = farm(
        start_server,
        tmp_path,
        db_url,
        "vm:\n  max: 2\n  max_prealloc: 2\n  tags: [vm]\n  list_period: 0.5\n"
        "  cmd_new: CLOUD new\n  cmd_delete: CLOUD delete\n  cmd_list: CLOUD list\n",
    )
    wait_until(lambda: len(f.up("vm")) == 2, message="2 spares")
    (f.cloud / "vm_leaked_by_a_crash").touch()

    # the fake cloud removes the VM, then records the delete: wait for both
    wait_until(
        lambda: (
            not (f.cloud / "vm_leaked_by_a_crash").exists()
            and "0 vm_leaked_by_a_crash" in f.lines("deleted")
        ),  # RESALLOC_ID 0, the listed name
        message="cleanup",
    )
    tracked = sorted(r["name"] for r in f.up("vm"))
    assert sorted(p.name for p in f.cloud.iterdir()) == tracked  # tracked VMs untouched
    hooks = tmp_path / "logs" / "hooks"
    assert "vm_leaked_by_a_crash" in (hooks / "000000_list").read_text()
    assert (hooks / "000000_terminate").exists()


def test_maint_commands_print_resalloc_maints_lines(
    start_server: Callable[..., ServerProcess], tmp_path: Path, db_url: str
) -> None:
    f = farm(
        start_server,
        tmp_path,
        db_url,
        "vm:\n  max: 3\n  max_prealloc: 2\n  tags: [vm, x86_64]\n"
        "  cmd_new: CLOUD new\n  cmd_delete: CLOUD delete\n"
        "none:\n  max: 0\n  tags: [scarce]\n  cmd_new: CLOUD new\n",
    )
    wait_until(lambda: len(f.up("vm")) == 2, message="2 spares")
    conn = f.rpc()
    taken = conn.takeTicket(["vm"])
    name = str(conn.waitTicket(taken)).strip()
    waiting = conn.takeTicket(["scarce"])
    wait_until(lambda: len(f.up("vm")) == 2, message="the spare replaced")

    rows = {r["id"]: r for r in f.resources()}
    mine = next(r for r in rows.values() if r["name"] == name)
    expected = {
        f"{r['id']} - {r['name']} pool=vm tags=vm,x86_64 status=UP releases=0 ticket="
        + (str(taken) if r["id"] == mine["id"] else "NULL")
        for r in rows.values()
    }
    assert set(f.maint("resource-list")) == expected
    assert set(f.maint("resource-list", "--up")) == expected
    assert f.maint("ticket-list") == [
        f"{taken} - state=OPEN tags=vm resource={name}",
        f"{waiting} - state=OPEN tags=scarce",
    ]

    info = "\n".join(f.maint("resource-info", name))
    assert f'"id": {mine["id"]},' in info and f'"data": "{name}"' in info
    assert "\n".join(f.maint("resource-info", str(mine["id"]))) == info

    lines = f.maint("foreach-resource", "--command", "echo {name} {state} {data_utf8}")
    assert sorted(lines) == sorted(f"{r['name']} UP {r['name']}" for r in rows.values())

    spare = next(r for r in rows.values() if r["id"] != mine["id"])
    f.maint("resource-delete", str(spare["id"]))
    wait_until(lambda: f.resource(spare["id"])["state"] == "ENDED", message="maint delete")
    assert f"{spare['id']} {spare['name']}" in f.lines("deleted")

    # resource-logs follows the hook logs like `tail -F`: read until cmd_new's log shows
    follow = subprocess.Popen(
        [sys.executable, "-m", "lessor.cli", "maint", "resource-logs", name],
        env={**f.server.env, "CONFIG_DIR": str(f.config_dir)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert follow.stdout is not None
        seen = []
        for line in follow.stdout:
            seen.append(line)
            if line == f"{name}\n":  # cmd_new's stdout, as logged
                break
        assert any(f"{mine['id']:06d}_alloc" in line for line in seen)
    finally:
        follow.kill()
        follow.wait(10)

    missing = f.server.lessor("maint", "resource-info", "nope", CONFIG_DIR=str(f.config_dir))
    assert missing.returncode == 1 and "nope" in missing.stderr
    assert "Traceback" not in missing.stderr
