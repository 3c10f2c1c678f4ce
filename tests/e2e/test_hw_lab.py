"""`lessor hw --server`: a lab's cores, NICs and GPUs reserved through a real lessor server."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from tests.conftest import ServerProcess, wait_until
from tests.e2e.helpers import resources
from tests.e2e.test_hw_run import assert_shared_nothing, report, report_gpus
from tests.hw.fake_sysfs import two_socket_smt

HW = [sys.executable, "-m", "lessor.hw"]
HOST = "lab1"
ONE_CORE_TRUE = ["--cores", "1", "--", "true"]

Env = dict[str, str]


def machine_env(tmp_path: Path, sysfs: Path | None, cores: str) -> Env:
    cfg = tmp_path / "hw.yaml"
    cfg.write_text(f"cores: {cores}\nprofiles:\n  ci: {{cores: 2, nics: 2}}\n")
    env = {
        **os.environ,
        "LESSOR_HW_CONFIG": str(cfg),
        "LESSOR_HW_STATE_DIR": str(tmp_path / "state"),
        "LESSOR_HW_HOST": HOST,
    }
    env.pop("LESSOR_SYSFS_ROOT", None)
    if sysfs is not None:
        env["LESSOR_SYSFS_ROOT"] = str(sysfs)
    return env


def lab_server(start_server: Callable[..., ServerProcess], env: Env, tmp_path: Path) -> Env:
    """The machine's pools from `lessor hw pools` on a real server; env then points at it."""
    pools = tmp_path / "pools.yaml"
    done = subprocess.run([*HW, "pools"], env=env, capture_output=True, text=True, check=True)
    pools.write_text(done.stdout)
    server = start_server(pools)
    wanted = sum(int(ln.split(":")[1]) for ln in done.stdout.splitlines() if "max_prealloc" in ln)
    wait_until(
        lambda: len([r for r in resources(server) if r["state"] == "UP"]) == wanted,
        message="every slot ready on the server",
    )
    return {**env, "LESSOR_HW_SERVER": server.url}


@pytest.fixture
def lab(start_server: Callable[..., ServerProcess], tmp_path: Path) -> Iterator[Env]:
    """A fake two-socket lab machine (8 cores, 4 NICs) whose slots live on a real server."""
    env = machine_env(tmp_path, two_socket_smt(tmp_path / "sys"), "0-7")
    yield lab_server(start_server, env, tmp_path)
    for proc in psutil.process_iter():  # whatever a failing test left running
        with contextlib.suppress(psutil.Error):
            if proc.pid != os.getpid() and proc.environ().get("LESSOR_HW_HOST") == HOST:
                proc.kill()


def start(env: Env, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*HW, *args], env=env, text=True, stderr=subprocess.PIPE)


def run(env: Env, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*HW, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def status(env: Env) -> dict[str, object]:
    done = run(env, "status", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def free_slots(env: Env) -> tuple[int, int]:
    slots = status(env)["slots"]
    assert isinstance(slots, dict)
    return slots["free_cores"], slots["free_nics"]


def test_concurrent_reservations_never_share_a_core_or_nic(lab: Env, tmp_path: Path) -> None:
    outs = [tmp_path / f"out{i}" for i in range(4)]
    # two CI profiles (2 cores + 2 NICs, one node each), then two 2-core requests: the whole
    # lab. (The other way round, the 2-core ones could take a node's cores from a CI one.)
    kinds = [["--profile", "ci"], ["--profile", "ci"], ["--cores", "2"], ["--cores", "2"]]
    go = [(k, o) for k, o in zip(kinds, outs, strict=True)]
    procs = [start(lab, *k, "--", "sh", "-c", report(o)) for k, o in go[:2]]
    wait_until(lambda: all(o.exists() for o in outs[:2]), timeout=30, message="the CI reservations")
    procs += [start(lab, *k, "--", "sh", "-c", report(o)) for k, o in go[2:]]
    wait_until(lambda: all(o.exists() for o in outs), timeout=30, message="four reservations")
    assert_shared_nothing(outs)
    assert free_slots(lab) == (0, 0)
    reserved = status(lab)["reservations"]
    assert isinstance(reserved, list) and {r["pid"] for r in reserved} == {p.pid for p in procs}
    for o in outs:
        Path(f"{o}.go").touch()
    assert [p.wait(30) for p in procs] == [0, 0, 0, 0]
    wait_until(lambda: free_slots(lab) == (8, 4), message="every slot back for the next one")


def test_a_waiter_proceeds_when_the_reservation_ends(lab: Env, tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    holder = start(lab, "--cores", "8", "--numa", "any", "--", "sh", "-c", report(first))
    wait_until(first.exists, timeout=30, message="the holder")
    busy = run(lab, "--cores", "1", "--no-wait", "--", "true")
    assert busy.returncode == 75 and f"pid {holder.pid}" in busy.stderr
    waiter = start(lab, "--cores", "1", "--", "sh", "-c", report(second))
    wait_until(lambda: status(lab)["choosing"], message="the waiter at the gate")
    assert not second.exists()
    Path(f"{first}.go").touch()
    assert holder.wait(10) == 0
    wait_until(second.exists, timeout=10, message="the waiter to start")
    Path(f"{second}.go").touch()
    assert waiter.wait(10) == 0
    assert waiter.stderr is not None and f"pid {holder.pid}" in waiter.stderr.read()


def test_waiters_are_served_first_come_first_served(lab: Env, tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    everything = ["--cores", "8", "--numa", "any", "--"]
    # someone is choosing a node (holds the gate): both requests queue for it, in order
    with httpx.Client(base_url=lab["LESSOR_HW_SERVER"]) as api:
        gate = api.post("/api/v1/tickets", json={"tags": ["hw-gate", f"host={HOST}"]}).json()
        assert gate["state"] == "ASSIGNED"
        early = start(lab, *everything, "sh", "-c", report(first))
        wait_until(lambda: len(status(lab)["waiters"]) == 1, message="the first waiter")  # type: ignore[arg-type]
        late = start(lab, *everything, "sh", "-c", report(second))
        wait_until(lambda: len(status(lab)["waiters"]) == 2, message="the second waiter")  # type: ignore[arg-type]
        holder = {"Lessor-Ticket-Key": gate["key"]}
        api.post(f"/api/v1/tickets/{gate['id']}/close", headers=holder).raise_for_status()
    wait_until(first.exists, timeout=10, message="the first waiter to start")
    now = status(lab)
    assert not second.exists()  # still waiting, for the gate or, holding it, for the cores
    assert len(now["waiters"]) + len(now["choosing"]) == 1  # type: ignore[arg-type]
    Path(f"{first}.go").touch()
    wait_until(second.exists, timeout=10, message="the second waiter to start")
    Path(f"{second}.go").touch()
    assert [p.wait(10) for p in (early, late)] == [0, 0]


def test_kill_9_of_a_reservation_frees_its_hardware_within_the_lease(
    lab: Env, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    cmd = ["--cores", "8", "--nics", "4", "--numa", "any", "--lease", "2", "--"]
    holder = start(lab, *cmd, "sh", "-c", f"echo $$ > {tmp_path}/child; " + report(out))
    wait_until(out.exists, timeout=30, message="the holder")
    child = int((tmp_path / "child").read_text())
    assert free_slots(lab) == (0, 0)
    holder.send_signal(signal.SIGKILL)
    holder.wait(10)
    wait_until(lambda: not psutil.pid_exists(child) or _zombie(child), message="its command dies")
    # Nobody on this machine looks: the server alone frees it, once the 2 s lease ran out.
    wait_until(lambda: free_slots(lab) == (8, 4), timeout=10, message="the lease to end")
    done = run(lab, "--cores", "8", "--nics", "4", "--numa", "any", "--no-wait", "--", "true")
    assert done.returncode == 0, done.stderr


def test_a_dead_reservation_on_this_machine_is_freed_at_once(lab: Env, tmp_path: Path) -> None:
    out = tmp_path / "out"
    holder = start(
        lab, "--cores", "8", "--lease", "300", "--numa", "any", "--", "sh", "-c", report(out)
    )
    wait_until(out.exists, timeout=30, message="the holder")
    holder.send_signal(signal.SIGKILL)
    holder.wait(10)
    # A 300 s lease, but the next request sees the holder's lock file free: it is dead.
    done = run(lab, "--cores", "8", "--numa", "any", "--wait-timeout", "20", "--", "true")
    assert done.returncode == 0, done.stderr


def _zombie(pid: int) -> bool:
    with contextlib.suppress(psutil.Error):
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    return True


def test_the_command_runs_pinned_to_the_reserved_cpus(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    """This machine's real CPUs: the affinity seen inside is the slot's CPU list."""
    last = max(os.sched_getaffinity(0))
    env = lab_server(start_server, machine_env(tmp_path, None, str(last)), tmp_path)
    probe = "import os; print(sorted(os.sched_getaffinity(0)), os.environ['LESSOR_CPUS'])"
    done = run(env, "--cores", "1", "--", sys.executable, "-c", probe)
    assert done.returncode == 0, done.stderr
    seen, told = done.stdout.rsplit(" ", 1)
    assert seen == str(sorted(int(c) for c in told.strip().split(",")))
    assert str(last) in told.strip().split(",")


def test_bad_servers_and_missing_pools_are_one_clear_line(lab: Env) -> None:
    unreachable = run(
        {**lab, "LESSOR_HW_SERVER": "http://127.0.0.1:9"}, "--cores", "1", "--", "true"
    )
    assert unreachable.returncode == 76 and "cannot reach the lessor server" in unreachable.stderr
    assert "Traceback" not in unreachable.stderr
    # `lessor --server URL hw` means that server too; LESSOR_SERVER alone does not
    via_group = subprocess.run(
        [
            sys.executable,
            "-m",
            "lessor.cli",
            "--server",
            "http://127.0.0.1:9",
            "hw",
            *ONE_CORE_TRUE,
        ],
        env=lab,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert via_group.returncode == 76, via_group.stderr
    local = {k: v for k, v in lab.items() if k != "LESSOR_HW_SERVER"}
    assert (
        run(
            {**local, "LESSOR_SERVER": "http://127.0.0.1:9"}, "--cores", "1", "--", "true"
        ).returncode
        == 0
    )
    other = run({**lab, "LESSOR_HW_HOST": "lab2"}, "--cores", "1", "--", "true")
    assert other.returncode == 69 and "lessor hw pools --host lab2" in other.stderr
    too_big = run(lab, "--cores", "9", "--", "true")
    assert too_big.returncode == 69 and "cannot ever give 9 cores" in too_big.stderr


def test_gpus_through_the_server_with_each_vendors_variables(lab: Env, tmp_path: Path) -> None:
    """Node 0's two GPUs and a core of it, then the rest of the GPUs: never one twice."""
    first, second = tmp_path / "first", tmp_path / "second"
    one = start(lab, "--cores", "1", "--gpus", "2", "--", "sh", "-c", report_gpus(first))
    wait_until(first.exists, timeout=30, message="the first reservation")
    assert first.read_text().strip().split("|") == [
        "0000:17:00.0,0000:18:00.0",
        "0000:17:00.0",
        "0000:18:00.0",
        "0",
        "PCI_BUS_ID",
        "0",
        "0",
        "0",
        "0,8",
    ]
    two = start(lab, "--gpus", "2", "--", "sh", "-c", report_gpus(second))
    wait_until(second.exists, timeout=30, message="the second reservation")
    assert second.read_text().split("|")[0] == "0000:b1:00.0,0000:b2:00.0"
    busy = run(lab, "--gpus", "1", "--no-wait", "--", "true")
    assert busy.returncode == 75 and f"pid {one.pid}" in busy.stderr
    slots = status(lab)["slots"]
    assert isinstance(slots, dict) and (slots["gpus"], slots["free_gpus"]) == (4, 0)
    for out in (first, second):
        Path(f"{out}.go").touch()
    assert [p.wait(30) for p in (one, two)] == [0, 0]
