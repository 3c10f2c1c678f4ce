"""The real `lessor` CLI against a real server process with the example pools."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest
from tests.conftest import ServerProcess, wait_until
from tests.e2e.helpers import resource, write_pools


def resources(server: ServerProcess, *flags: str) -> list[dict[str, Any]]:
    done = server.lessor("resources", "--json", *flags, check=True)
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def up_count(server: ServerProcess, pool: str) -> int:
    return sum(1 for r in resources(server) if r["pool"] == pool and r["state"] == "UP")


def test_ticket_wait_data_close_and_the_resource_is_deleted(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = start_server()
    wait_until(lambda: up_count(server, "fake_x86") == 2, message="2 warm spares")

    tid = server.lessor("ticket", "--tag", "fake", "--tag", "x86_64", check=True).stdout.strip()
    waited = server.lessor("ticket-wait", tid, check=True)
    assert waited.stdout.startswith("127.0.0.")
    assert waited.stderr == ""  # no spinner when nobody watches a terminal
    checked = server.lessor("ticket-check", tid, check=True)
    assert checked.stdout == waited.stdout

    (mine,) = [r for r in resources(server) if str(r["ticket_id"]) == tid]
    assert mine["state"] == "TAKEN" and mine["data"] == waited.stdout
    vm = tmp_path / "cloud" / mine["name"]
    assert vm.is_dir()

    server.lessor("ticket-close", tid, check=True)
    wait_until(lambda: resource(server, mine["id"])["state"] == "ENDED", message="deletion")
    assert not vm.exists()  # cmd_delete really ran
    # and the spare it leaves is replaced
    wait_until(lambda: up_count(server, "fake_x86") == 2, message="spares topped up")

    log = tmp_path / "data" / "logs" / "hooks" / f"{mine['id']:06d}_alloc"
    assert log.read_text() == mine["data"]  # what cmd_new wrote, nothing else (as resalloc)
    assert (log.parent / f"{mine['id']:06d}_terminate").exists()


def test_a_tag_no_pool_has_is_refused_at_once_naming_it(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server()
    done = server.lessor("ticket", "--tag", "fake", "--tag", "sparc")
    assert done.returncode != 0
    assert "sparc" in done.stderr and done.stdout == ""
    with server.client() as c:
        answer = c.post("/api/v1/tickets", json={"tags": ["sparc"]})
    assert answer.status_code == 422 and "sparc" in answer.json()["detail"]


def test_ticket_check_exits_1_with_nothing_on_stdout_until_assigned(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    pools = write_pools(
        tmp_path / "pools.yaml",
        "slow:\n  max: 1\n  max_prealloc: 0\n  start_for_waiting: true\n  tags: [slow]\n"
        "  cmd_new: FAKE_CLOUD new\n  cmd_delete: FAKE_CLOUD delete\n",
    )
    server = start_server(pools, FAKE_CLOUD_BOOT_SECONDS="1.5")
    tid = server.lessor("ticket", "--tag", "slow", check=True).stdout.strip()
    early = server.lessor("ticket-check", tid)
    assert early.returncode == 1 and early.stdout == ""
    data = server.lessor("ticket-wait", tid, check=True).stdout
    assert data.startswith("127.0.0.")
    late = server.lessor("ticket-check", tid)
    assert late.returncode == 0 and late.stdout == data


def test_concurrent_tickets_never_share_a_resource(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    pools = write_pools(
        tmp_path / "pools.yaml",
        "many:\n  max: 6\n  max_starting: 6\n  max_prealloc: 2\n  tags: [m]\n"
        "  cmd_new: FAKE_CLOUD new\n  cmd_delete: FAKE_CLOUD delete\n",
    )
    server = start_server(pools, FAKE_CLOUD_BOOT_SECONDS="0.05")
    results: dict[int, str] = {}

    def one(k: int) -> None:
        tid = server.lessor("ticket", "--tag", "m", check=True).stdout.strip()
        server.lessor("ticket-wait", tid, check=True)
        results[k] = tid

    threads = [threading.Thread(target=one, args=(k,)) for k in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert len(results) == 6
    taken = [r for r in resources(server) if r["state"] == "TAKEN"]
    assert sorted(str(r["ticket_id"]) for r in taken) == sorted(results.values())
    assert len({r["id"] for r in taken}) == 6
    assert len({r["data"] for r in taken}) == 6


def test_hooks_see_the_resalloc_and_lessor_environment(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    dump = tmp_path / "env"
    dump.mkdir()
    pools = write_pools(
        tmp_path / "pools.yaml",
        "envp:\n  max: 1\n  max_prealloc: 1\n  tags: [e]\n"
        f"  cmd_new: echo hello-$RESALLOC_ID_IN_POOL; env > {dump}/new\n"
        f"  cmd_delete: env > {dump}/delete.tmp && mv {dump}/delete.tmp {dump}/delete\n",
    )
    server = start_server(pools)
    tid = server.lessor("ticket", "--tag", "e", check=True).stdout.strip()
    assert server.lessor("ticket-wait", tid, check=True).stdout == "hello-0\n"
    server.lessor("ticket-close", tid, check=True)
    wait_until((dump / "delete").exists, message="cmd_delete")

    env = dict(
        line.split("=", 1) for line in (dump / "delete").read_text().splitlines() if "=" in line
    )
    assert env["RESALLOC_POOL_ID"] == env["LESSOR_POOL"] == "envp"
    assert env["RESALLOC_ID_IN_POOL"] == "0"
    assert env["RESALLOC_NAME"].startswith("envp_00000001_")
    assert base64.b64decode(env["RESALLOC_RESOURCE_DATA"]) == b"hello-0\n"


def test_a_failed_cmd_new_is_cleaned_by_cmd_delete_and_failing_deletes_are_retried(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    flag = tmp_path / "delete-works"
    pools = tmp_path / "pools.yaml"
    pools.write_text(
        "broken:\n  max: 1\n  max_prealloc: 1\n  max_starting: 1\n  tags: [b]\n"
        "  cmd_new: echo half-made; exit 3\n"
        f"  cmd_delete: test -e {flag}\n"
        "  delete_backoff: 0.2\n"
    )
    server = start_server(pools)

    def first() -> dict[str, Any] | None:
        rows = [r for r in resources(server) if r["id"] == 1]
        return rows[0] if rows and rows[0]["delete_attempts"] >= 2 else None

    stuck = wait_until(first, message="two failed cmd_delete attempts")
    assert isinstance(stuck, dict)
    assert stuck["state"] in ("DELETE_REQUESTED", "DELETING")  # never forgotten
    assert "cmd_delete exited with 1" in stuck["message"]
    # at most max resources alive: the pool does not start another meanwhile
    assert [r["id"] for r in resources(server)] == [1]

    flag.touch()
    wait_until(lambda: resource(server, 1)["state"] == "ENDED", message="delete succeeds")


def test_admin_operations_need_the_token(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server(LESSOR_SERVER_ADMIN_TOKEN="s3cret")
    wait_until(lambda: up_count(server, "fake_x86") >= 1, message="a spare")
    rid = next(r["id"] for r in resources(server) if r["state"] == "UP")

    denied = server.lessor("resource-delete", str(rid))
    assert denied.returncode == 4 and "token" in denied.stderr.lower()
    assert resource(server, rid)["state"] == "UP"

    server.lessor("resource-delete", str(rid), check=True, LESSOR_ADMIN_TOKEN="s3cret")
    wait_until(lambda: resource(server, rid)["state"] == "ENDED", message="deleted")


def test_kill_9_mid_cmd_new_then_restart_loses_nothing_and_leaks_nothing(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    pools = write_pools(
        tmp_path / "pools.yaml",
        "vm:\n  max: 2\n  max_starting: 2\n  max_prealloc: 1\n  tags: [vm]\n"
        "  cmd_new: FAKE_CLOUD new\n  cmd_delete: FAKE_CLOUD delete\n",
    )
    server = start_server(pools, LESSOR_SERVER_ADMIN_TOKEN="t", FAKE_CLOUD_BOOT_SECONDS="0.1")
    tid = server.lessor("ticket", "--tag", "vm", check=True).stdout.strip()
    data = server.lessor("ticket-wait", tid, check=True).stdout
    wait_until(lambda: up_count(server, "vm") == 1, message="a spare")

    # Make the next cmd_new slow, have one start, and kill the server in the middle of it.
    server.env["FAKE_CLOUD_BOOT_SECONDS"] = "30"
    server.kill9()
    server.start()
    spare = next(r for r in resources(server) if r["state"] == "UP")
    server.lessor("resource-delete", str(spare["id"]), check=True, LESSOR_ADMIN_TOKEN="t")
    starting = wait_until(
        lambda: next((r for r in resources(server) if r["state"] == "STARTING"), None),
        message="a new cmd_new",
    )
    assert isinstance(starting, dict)
    vm = tmp_path / "cloud" / starting["name"]
    wait_until(vm.is_dir, message="cmd_new to begin making its VM")
    server.kill9()

    server.env["FAKE_CLOUD_BOOT_SECONDS"] = "0.1"
    server.start()
    wait_until(
        lambda: resource(server, starting["id"])["state"] == "ENDED",
        message="the cut-off resource to be deleted",
    )
    assert not vm.exists()
    # the assigned ticket kept its resource and data
    assert server.lessor("ticket-check", tid, check=True).stdout == data
    # the cut-off cmd_new died with the server: nobody is left making that VM behind our back
    assert hook_shells(starting["name"]) == []


def hook_shells(name: str) -> list[int]:
    """Pids of hook scripts still running for the resource called `name`."""
    found = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if any("fake-cloud" in part for part in p.info["cmdline"] or ()) and (
                p.environ().get("RESALLOC_NAME") == name
            ):
                found.append(p.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


@pytest.mark.skipif(not os.path.exists("/proc/self"), reason="needs /proc")
def test_listings_and_pools_show_counts(start_server: Callable[..., ServerProcess]) -> None:
    server = start_server()
    wait_until(lambda: up_count(server, "fake_x86") == 2, message="2 warm spares")
    pools = json.loads(server.lessor("pools", "--json", check=True).stdout)
    by_name = {p["name"]: p for p in pools}
    assert by_name["fake_x86"]["counts"]["UP"] == 2
    assert [t["name"] for t in by_name["fake_arm"]["tags_on_demand"]] == ["aarch64"]
    table = server.lessor("pools", check=True, COLUMNS="200").stdout
    assert "fake_x86" in table and "fake_arm" in table
    tickets = server.lessor("tickets", "--json", check=True).stdout
    assert json.loads(tickets) == []


def test_the_whole_cycle_on_each_database(
    start_server: Callable[..., ServerProcess], db_url: str, tmp_path: Path
) -> None:
    pools = write_pools(
        tmp_path / "pools.yaml",
        "vm:\n  max: 3\n  max_starting: 2\n  max_prealloc: 1\n  tags: [vm]\n"
        "  cmd_new: FAKE_CLOUD new\n  cmd_delete: FAKE_CLOUD delete\n",
    )
    server = start_server(pools, db=db_url, FAKE_CLOUD_BOOT_SECONDS="0.05")
    tids = [server.lessor("ticket", "--tag", "vm", check=True).stdout.strip() for _ in range(3)]
    datas = {server.lessor("ticket-wait", t, check=True).stdout for t in tids}
    assert len(datas) == 3  # three distinct resources
    server.lessor("ticket-close", *tids, check=True)
    wait_until(
        lambda: {r["state"] for r in resources(server)} == {"UP"} and up_count(server, "vm") == 1,
        message="tickets' resources deleted, one spare left",
    )
    ended = [r for r in resources(server, "--all") if r["state"] == "ENDED"]
    assert len(ended) == 3


def test_bad_config_is_a_message_with_file_and_line_not_a_traceback(tmp_path: Path) -> None:
    pools = tmp_path / "pools.yaml"
    pools.write_text("ok:\n  max: 2\n  tags: [a]\nbad:\n  tags: [b]\n  max: lots\n")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "lessor.cli",
            "server",
            "--pools",
            str(pools),
            "--data-dir",
            str(tmp_path / "d"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert f"{pools}:6:" in done.stderr and "max" in done.stderr and "'bad'" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_resource_failing_its_livechecks_is_deleted_and_replaced(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    sick = tmp_path / "sick"
    sick.mkdir()
    pools = tmp_path / "pools.yaml"
    pools.write_text(
        "lc:\n  max: 2\n  max_prealloc: 1\n  tags: [lc]\n"
        "  cmd_new: echo $RESALLOC_NAME\n"
        f'  cmd_livecheck: test ! -e "{sick}/$RESALLOC_NAME"\n'
        "  livecheck_period: 0.2\n  livecheck_attempts: 2\n"
    )
    server = start_server(pools)
    first = wait_until(lambda: next(iter(resources(server)), None), message="a spare")
    assert isinstance(first, dict)
    wait_until(lambda: resource(server, first["id"])["last_livecheck"], message="a livecheck")
    (sick / first["name"]).touch()  # from now on its livecheck fails

    wait_until(lambda: resource(server, first["id"])["state"] == "ENDED", message="deletion")
    gone = resource(server, first["id"])
    assert gone["livecheck_failures"] >= 2
    replacement = wait_until(
        lambda: [r for r in resources(server) if r["state"] == "UP"], message="a replacement"
    )
    assert isinstance(replacement, list) and replacement[0]["id"] != first["id"]
