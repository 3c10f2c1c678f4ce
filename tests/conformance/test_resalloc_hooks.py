"""Rows H1-H13, S1, L1-L5, K1 and K4 of docs/resalloc.md: what hooks see, what their logs hold.

The hooks dump their RESALLOC_*/LESSOR_* variables (site.py DUMP_ENV) and the
tests compare them with resalloc's manager.py command_env per hook kind; the
logs under `logdir/hooks/` are read byte for byte, as operators' greps and
resalloc's merge-hook-logs cron read them.
"""

from __future__ import annotations

import asyncio
import base64
import re
from pathlib import Path
from typing import Any

import pytest
from tests.conformance.site import Site, SiteFactory, dump_env, server_log
from tests.conftest import wait_until

from lessor.config.pools import load_pools
from lessor.domain.hooks import Hook
from lessor.reconciler.orphans import OrphanSweeper
from lessor.runner.hooks import HookResult
from lessor.store.memory import MemoryStore

EXACT_512 = "i=0; while [ $i -lt 8 ]; do printf '%063d\\n' $i; i=$((i+1)); done"

POOLS = f"""
envp:
  max: 1
  max_prealloc: 1
  tags: [envp]
  named_counters: [slot]
  livecheck_period: 1
  cmd_new: {dump_env("new")}; pwd > WORK/pwd; echo data-$RESALLOC_ID
  cmd_livecheck: {dump_env("livecheck")}
  cmd_release: {dump_env("release")}
  cmd_delete: {dump_env("delete")}
lister:
  max: 0
  tags: [lister]
  list_period: 0.5
  cmd_new: 'true'
  cmd_list: {dump_env("list")}; [ -e WORK/stray-gone ] || echo stray_vm
  cmd_delete: {dump_env("delete")}; touch WORK/stray-gone
logs:
  max: 1
  max_prealloc: 1
  tags: [logs]
  livecheck_period: 1
  cmd_new: echo o1; sleep 0.2; echo e1 >&2; sleep 0.2; echo o2
  cmd_livecheck: printf 'o1\\n'; printf 'e1\\n' >&2; printf 'o2\\n'
  cmd_delete: 'true'
slowpoke:
  max: 1
  max_prealloc: 1
  tags: [slowpoke]
  hook_timeout: 1
  start_backoff: 600
  cmd_new: echo started; exec sleep 5
  cmd_delete: 'true'
trim600:
  max: 1
  max_prealloc: 1
  tags: [trim600]
  cmd_new: head -c 600 /dev/zero | tr '\\0' x; echo
  cmd_delete: 'true'
trimlines:
  max: 1
  max_prealloc: 1
  tags: [trimlines]
  cmd_new: i=0; while [ $i -lt 100 ]; do printf 'line-%03d\\n' $i; i=$((i+1)); done
  cmd_delete: 'true'
exact:
  max: 1
  max_prealloc: 1
  tags: [exact]
  cmd_new: {EXACT_512}
  cmd_delete: 'true'
"""

RESALLOC_NAMES = {"RESALLOC_ID", "RESALLOC_NAME", "RESALLOC_POOL_ID", "RESALLOC_ID_IN_POOL"}
"""What resalloc's command_env sets for every hook of a tracked resource."""

SECRET = "admin-SECRET-token"


@pytest.fixture(scope="module")
def site(sites: SiteFactory, site_db: str) -> Site:
    # resalloc's server.yaml keys, one it does not know, and no main_logfile (K4's default)
    return sites(
        site_db, POOLS, server_yaml="sleeptime: 1\nfoo: 1\n", LESSOR_SERVER_ADMIN_TOKEN=SECRET
    )


@pytest.fixture(scope="module")
def envp(site: Site) -> dict[str, Any]:
    """The envp pool's first resource, once UP and checked once."""
    (first, *_) = site.wait_for("envp", "UP")
    wait_until(lambda: site.env_of(first["id"], "livecheck"), message="a livecheck")
    return first


def resalloc_names(env: dict[str, str]) -> set[str]:
    return {name for name in env if name.startswith("RESALLOC_")}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_h1_cmd_new_gets_resallocs_variables_and_no_resource_data(
    site: Site, envp: dict[str, Any]
) -> None:
    env = site.env_of(envp["id"], "new")
    assert env is not None
    assert resalloc_names(env) == RESALLOC_NAMES | {"RESALLOC_NAMED_COUNTER_slot"}
    assert "RESALLOC_RESOURCE_DATA" not in env and "LESSOR_RESOURCE_DATA_B64" not in env


def test_h2_cmd_livecheck_gets_the_data_as_base64(site: Site, envp: dict[str, Any]) -> None:
    env = site.env_of(envp["id"], "livecheck")
    assert env is not None
    assert resalloc_names(env) == RESALLOC_NAMES | {
        "RESALLOC_NAMED_COUNTER_slot",
        "RESALLOC_RESOURCE_DATA",
    }
    assert env["RESALLOC_RESOURCE_DATA"] == b64(f"data-{envp['id']}\n".encode())


def test_h12_values_are_decimal_ids_and_standard_base64(site: Site, envp: dict[str, Any]) -> None:
    env = site.env_of(envp["id"], "livecheck")
    assert env is not None
    assert env["RESALLOC_ID"] == str(envp["id"]) and env["RESALLOC_NAME"] == envp["name"]
    assert (env["RESALLOC_POOL_ID"], env["RESALLOC_ID_IN_POOL"]) == ("envp", "0")
    assert env["RESALLOC_NAMED_COUNTER_slot"] == "0"
    assert base64.b64decode(env["RESALLOC_RESOURCE_DATA"], validate=True)


def test_h11_s1_other_variables_are_lessors_own_and_hold_no_secret(
    site: Site, envp: dict[str, Any]
) -> None:
    for path in (site.work / "env").iterdir():
        text = path.read_text()
        assert SECRET not in text
        names = {entry.split("=", 1)[0] for entry in text.splitlines()}
        assert all(n.startswith("LESSOR_") for n in names - resalloc_names(dict.fromkeys(names)))


def test_h13_hooks_run_in_the_pools_files_directory(site: Site, envp: dict[str, Any]) -> None:
    assert (site.work / "pwd").read_text().strip() == str(site.etc)


def test_h3_h4_cmd_release_and_cmd_delete_get_the_data_too(
    site: Site, envp: dict[str, Any]
) -> None:
    conn = site.rpc()
    tid = conn.takeTicket(["envp"])
    data = conn.waitTicket(str(tid)).data
    assert site.ticket(tid)["resource_id"] == envp["id"]
    conn.closeTicket(str(tid))  # cmd_release, then (no reuse) cmd_delete
    wait_until(lambda: site.env_of(envp["id"], "delete"), message="cmd_delete")
    for hook in ("release", "delete"):
        env = site.env_of(envp["id"], hook)
        assert env is not None
        assert resalloc_names(env) == RESALLOC_NAMES | {
            "RESALLOC_NAMED_COUNTER_slot",
            "RESALLOC_RESOURCE_DATA",
        }
        assert env["RESALLOC_RESOURCE_DATA"] == b64(data)


def test_h6_cmd_list_gets_id_zero_and_none(site: Site) -> None:
    env = wait_until(lambda: site.env_of(0, "list"), message="cmd_list")
    assert isinstance(env, dict)
    assert {k: v for k, v in env.items() if k.startswith("RESALLOC_")} == {
        "RESALLOC_ID": "0",
        "RESALLOC_NAME": "None",
        "RESALLOC_POOL_ID": "lister",
        "RESALLOC_ID_IN_POOL": "None",
    }


def test_h9_an_untracked_instance_is_deleted_with_its_listed_name(site: Site) -> None:
    env = wait_until(lambda: site.env_of(0, "delete"), message="the untracked delete")
    assert isinstance(env, dict)
    assert {k: v for k, v in env.items() if k.startswith("RESALLOC_")} == {
        "RESALLOC_ID": "0",
        "RESALLOC_NAME": "stray_vm",
        "RESALLOC_POOL_ID": "lister",
        "RESALLOC_ID_IN_POOL": "None",
    }
    assert (site.logs / "hooks" / "000000_terminate").exists()
    assert b"stray_vm\n" in site.hook_log(0, "list")


def test_h10_an_untracked_delete_may_run_120_seconds_as_resalloc_allows(tmp_path: Path) -> None:
    path = tmp_path / "pools.yaml"
    path.write_text(
        "p:\n  max: 0\n  tags: [p]\n  cmd_new: 'true'\n  cmd_delete: 'true'\n  cmd_list: 'true'\n"
    )
    (pool,) = load_pools(path)
    assert pool.hook_timeout == 3600  # lessor's default for its own hooks
    timeouts: dict[Hook, float] = {}

    class Runner:
        async def run(self, command: str, env: object, **kw: Any) -> HookResult:
            timeouts[kw["hook"]] = kw["timeout"]
            return HookResult(0, b"stray_vm\n" if kw["hook"] is Hook.LIST else b"", 0.0)

    sweeper = OrphanSweeper(Runner(), MemoryStore(), set())  # type: ignore[arg-type]
    assert asyncio.run(sweeper.sweep(pool)) == ["stray_vm"]
    assert timeouts == {Hook.LIST: 3600, Hook.DELETE: 120}


def test_h7_cmd_new_output_becomes_data_trimmed_at_512_bytes(site: Site) -> None:
    conn = site.rpc()
    lines = b"".join(b"line-%03d\n" % i for i in range(100))
    exact = b"".join(b"%063d\n" % i for i in range(8))
    expected = {
        "trim600": (b"x" * 512 + b"<< trimmed >>\n", b"x" * 600 + b"\n"),
        "trimlines": (lines[: 56 * 9] + b"<< trimmed >>\n", lines),
        "exact": (exact, exact),
    }
    assert len(exact) == 512
    for tag, (data, logged) in expected.items():
        tid = conn.takeTicket([tag])
        assert conn.waitTicket(str(tid)).data == data
        rid = site.ticket(tid)["resource_id"]
        assert site.hook_log(rid, "alloc") == logged  # the log keeps everything
        conn.closeTicket(str(tid))


def test_l2_cmd_new_log_holds_stdout_and_stderr_interleaved_and_nothing_else(site: Site) -> None:
    (first, *_) = site.wait_for("logs", "UP")
    assert site.hook_log(first["id"], "alloc") == b"o1\ne1\no2\n"


def test_l1_each_livecheck_appends_exactly_what_it_wrote(site: Site) -> None:
    (first, *_) = site.wait_for("logs", "UP")
    run = b"o1\ne1\no2\n"

    def whole_runs() -> bytes:  # read between two runs, not in the middle of one
        log = site.hook_log(first["id"], "watch")
        return log if len(log) >= 2 * len(run) and len(log) % len(run) == 0 else b""

    log = wait_until(whole_runs, message="two livechecks")
    assert log == run * (len(log) // len(run))  # type: ignore[arg-type, operator]


def test_l3_a_hook_killed_at_its_timeout_ends_its_log_with_resallocs_marker(site: Site) -> None:
    def timed_out() -> list[bytes]:
        logs = (p.read_bytes() for p in (site.logs / "hooks").glob("*_alloc"))
        return [log for log in logs if log.startswith(b"started")]

    wait_until(lambda: any(b"<" in log for log in timed_out()), message="slowpoke's timeout")
    assert timed_out() == [b"started\n<timeouted after 1s>\n"]


def test_l4_l5_logdir_hooks_holds_only_resallocs_log_files(site: Site) -> None:
    names = re.compile(r"[0-9]{6}_(alloc|watch|release|terminate|list)")
    running = site.logs / "hook-runs" / "running"
    # a livecheck runs every second: look while lessor's record of one exists
    wait_until(lambda: running.is_dir() and any(running.iterdir()), message="a hook running")
    hooks = list((site.logs / "hooks").iterdir())
    assert hooks and all(p.is_file() and names.fullmatch(p.name) for p in hooks)


def test_k1_an_unknown_server_yaml_key_is_a_warning_and_the_server_runs(site: Site) -> None:
    assert f"{site.etc / 'server.yaml'}:4: unknown key 'foo' ignored" in server_log(site)
    assert site.rpc().collectTicket("1")  # answering


def test_k4_the_server_log_goes_to_logdir_main_log_by_default(site: Site) -> None:
    main_log = site.logs / "main.log"
    wait_until(main_log.exists, message="main.log")
    assert "INFO lessor.runner.hooks: hook runs are contained by" in main_log.read_text()
    assert f"server log: {main_log}" in server_log(site)
