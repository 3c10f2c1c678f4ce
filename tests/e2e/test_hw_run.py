"""`lessor hw` as users run it: real processes, real locks, real CPU affinity (Python's path)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
from tests.conftest import wait_until
from tests.hw.fake_sysfs import two_socket_smt

HW = [sys.executable, "-m", "lessor.hw"]

Env = dict[str, str]


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    """A fake two-socket machine with all cores and NICs reservable; state under tmp_path.

    Whatever a failing test left running with this state directory is killed at the end.
    """
    sysfs = two_socket_smt(tmp_path / "sys")
    cfg = tmp_path / "hw.yaml"
    cfg.write_text("cores: 0-7\nprofiles:\n  ci: {cores: 2, nics: 2}\n")
    state = str(tmp_path / "state")
    yield {
        **os.environ,
        "LESSOR_SYSFS_ROOT": str(sysfs),
        "LESSOR_HW_CONFIG": str(cfg),
        "LESSOR_HW_STATE_DIR": state,
    }
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if proc.pid != os.getpid() and proc.environ().get("LESSOR_HW_STATE_DIR") == state:
                proc.kill()


def report(out: Path) -> str:
    """A shell snippet making the child write what it got, then wait for `out`.go to exist."""
    return (
        f'echo "$LESSOR_CPUS|$NIC0,$NIC1|$LESSOR_NUMA_NODE" > {out}.tmp && mv {out}.tmp {out}; '
        f"while [ ! -e {out}.go ]; do sleep 0.01; done"
    )


def assert_shared_nothing(outs: list[Path]) -> None:
    """Four holders of the fake two-socket machine (two `ci` profiles, two bare 2-core
    requests, see `report`) took all of its 16 CPUs without sharing a CPU or a NIC, and
    each CI holder's cores and NICs are on the NUMA node it was told."""
    got = [o.read_text().strip().split("|") for o in outs]
    cpus = [set(g[0].split(",")) for g in got]
    nics = [set(g[1].split(",")) - {""} for g in got]
    for i in range(4):
        for j in range(i + 1, 4):
            assert not cpus[i] & cpus[j] and not nics[i] & nics[j]
    assert set().union(*cpus) == {str(c) for c in range(16)}
    for cpu_set, nic_set, node in ((cpus[i], nics[i], got[i][2]) for i in (0, 1)):
        assert all((int(c) % 8) // 4 == int(node) for c in cpu_set)
        assert nic_set == (
            {"0000:01:00.0", "0000:02:00.0"} if node == "0" else {"0000:03:00.0", "0000:04:00.0"}
        )


def start(env: Env, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*HW, *args], env=env, text=True, stderr=subprocess.PIPE)


def test_concurrent_reservations_never_share_a_core_or_nic(env: Env, tmp_path: Path) -> None:
    outs = [tmp_path / f"out{i}" for i in range(4)]
    # two CI profiles (2 cores + 2 NICs, one node each) and two bare 2-core requests: the
    # whole machine, so any overlap would show. The profiles go first: two bare requests
    # that both landed on one node would leave the other node's two NICs for two profiles
    # that need two each, and one profile would rightly wait for ever.
    kinds = [["--profile", "ci"], ["--profile", "ci"], ["--cores", "2"], ["--cores", "2"]]
    procs = [
        start(env, *k, "--", "sh", "-c", report(o))
        for k, o in zip(kinds[:2], outs[:2], strict=True)
    ]
    wait_until(lambda: all(o.exists() for o in outs[:2]), message="two profiles running")
    procs += [
        start(env, *k, "--", "sh", "-c", report(o))
        for k, o in zip(kinds[2:], outs[2:], strict=True)
    ]
    wait_until(lambda: all(o.exists() for o in outs), message="four holders running")
    assert_shared_nothing(outs)
    for o in outs:
        Path(f"{o}.go").touch()
    assert [p.wait(30) for p in procs] == [0, 0, 0, 0]


def test_a_waiter_starts_the_moment_the_reservation_ends(env: Env, tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    holder = start(env, "--cores", "8", "--", "sh", "-c", report(first))
    wait_until(first.exists, message="the holder")
    waiter = start(env, "--cores", "1", "--", "sh", "-c", report(second))
    wait_until(lambda: _waiting(env), message="the waiter to queue")
    assert not second.exists()
    released = time.monotonic()
    Path(f"{first}.go").touch()
    assert holder.wait(10) == 0
    wait_until(second.exists, timeout=5, interval=0.005, message="the waiter to start")
    assert time.monotonic() - released < 1.0
    Path(f"{second}.go").touch()
    assert waiter.wait(10) == 0
    assert waiter.stderr is not None and "reserved by" in waiter.stderr.read()


def _waiting(env: Env) -> bool:
    status = subprocess.run(
        [*HW, "status", "--json"], env=env, capture_output=True, text=True, check=True
    )
    return len(json.loads(status.stdout)["waiters"]) == 1


def test_no_wait_exits_75_at_once_naming_who_reserved_it(env: Env, tmp_path: Path) -> None:
    out = tmp_path / "out"
    holder = start(env, "--cores", "8", "--", "sh", "-c", report(out))
    wait_until(out.exists, message="the holder")
    done = subprocess.run(
        [*HW, "--cores", "1", "--no-wait", "--", "true"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 75
    assert f"pid {holder.pid}" in done.stderr
    timed = subprocess.run(
        [*HW, "--cores", "1", "--wait-timeout", "0.3", "--", "true"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert timed.returncode == 75
    Path(f"{out}.go").touch()
    holder.wait(10)


def test_kill_9_of_a_reservation_frees_its_hardware_and_ends_its_command(
    env: Env, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    holder = start(
        env,
        "--cores",
        "8",
        "--nics",
        "4",
        "--numa",
        "any",
        "--",
        "sh",
        "-c",
        f"echo $$ > {tmp_path}/child; " + report(out),
    )
    wait_until(out.exists, message="the holder")
    child = int((tmp_path / "child").read_text())
    holder.send_signal(signal.SIGKILL)
    holder.wait(10)
    wait_until(lambda: not _alive(child), message="the command to die with its holder")
    done = subprocess.run(
        [*HW, "--cores", "8", "--nics", "4", "--numa", "any", "--no-wait", "--", "true"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    status = json.loads(
        subprocess.run(
            [*HW, "status", "--json"], env=env, capture_output=True, text=True, check=True
        ).stdout
    )
    assert status["reservations"] == []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def test_exit_code_and_signals_pass_through(env: Env) -> None:
    assert (
        subprocess.run(
            [*HW, "--cores", "1", "--", "sh", "-c", "exit 7"], env=env, timeout=30, check=False
        ).returncode
        == 7
    )
    proc = subprocess.Popen(
        [
            *HW,
            "--cores",
            "1",
            "--",
            "sh",
            "-c",
            "trap 'exit 42' TERM; while :; do sleep 0.05; done",
        ],
        env=env,
    )
    wait_until(lambda: _reservations(env), message="the reservation")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 42


def _reservations(env: Env) -> list[dict[str, object]]:
    out = subprocess.run(
        [*HW, "status", "--json"], env=env, capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out)["reservations"]  # type: ignore[no-any-return]


def test_time_limit_stops_the_command(env: Env) -> None:
    started = time.monotonic()
    done = subprocess.run(
        [
            *HW,
            "--cores",
            "1",
            "--time-limit",
            "0.5",
            "--grace",
            "0.5",
            "--",
            "sh",
            "-c",
            "trap '' TERM; sleep 30",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 124 and "time limit" in done.stderr
    assert time.monotonic() - started < 10


def test_the_command_runs_pinned_to_the_reserved_cpus(tmp_path: Path) -> None:
    """On this machine's real CPUs: affinity seen from inside equals what was reserved."""
    cpus = sorted(os.sched_getaffinity(0))
    cfg = tmp_path / "hw.yaml"
    cfg.write_text(f"cores: {cpus[-1]}\n")
    env = {**os.environ, "LESSOR_HW_CONFIG": str(cfg), "LESSOR_HW_STATE_DIR": str(tmp_path)}
    env.pop("LESSOR_SYSFS_ROOT", None)
    probe = "import os; print(sorted(os.sched_getaffinity(0)), os.environ['LESSOR_CPUS'])"
    done = subprocess.run(
        [*HW, "--cores", "1", "--", sys.executable, "-c", probe],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    seen, told = done.stdout.rsplit(" ", 1)
    assert seen == str(sorted(int(c) for c in told.strip().split(",")))
    assert str(cpus[-1]) in told.strip().split(",")


def test_the_lessor_command_and_topology_and_status(env: Env, tmp_path: Path) -> None:
    lessor: Callable[..., subprocess.CompletedProcess[str]] = lambda *a: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "lessor.cli", "hw", *a],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    topo = lessor("topology")
    assert topo.returncode == 0 and "node 1: 4 cores" in topo.stdout and "eth3" in topo.stdout
    assert lessor("--cores", "1", "--", "sh", "-c", "exit 3").returncode == 3
    status = lessor("status")
    assert "utilisation over 1, 5, 15 min" in status.stdout and "profile ci" in status.stdout
    bad = lessor("--profile", "nope", "--", "true")
    assert bad.returncode == 2 and "no profile 'nope'" in bad.stderr


def report_gpus(out: Path) -> str:
    """Shell: write the GPU variables the command got, then wait for `out`.go to exist."""
    got = "|".join(
        f"${v}"
        for v in (
            "LESSOR_GPUS",
            "GPU0",
            "GPU1",
            "CUDA_VISIBLE_DEVICES",
            "CUDA_DEVICE_ORDER",
            "ROCR_VISIBLE_DEVICES",
            "HIP_VISIBLE_DEVICES",
            "LESSOR_NUMA_NODE",
            "LESSOR_CPUS",
        )
    )
    return (
        f'echo "{got}" > {out}.tmp && mv {out}.tmp {out}; '
        f"while [ ! -e {out}.go ]; do sleep 0.01; done"
    )


def test_concurrent_reservations_never_share_a_gpu(env: Env, tmp_path: Path) -> None:
    outs = [tmp_path / f"gpu{i}" for i in range(4)]
    procs = [start(env, "--gpus", "1", "--", "sh", "-c", report_gpus(o)) for o in outs]
    wait_until(lambda: all(o.exists() for o in outs), message="four GPU reservations")
    got = sorted(o.read_text().split("|")[0] for o in outs)
    assert got == ["0000:17:00.0", "0000:18:00.0", "0000:b1:00.0", "0000:b2:00.0"]
    fifth = subprocess.run(
        [*HW, "--gpus", "1", "--no-wait", "--", "true"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert fifth.returncode == 75 and "reserved by" in fifth.stderr
    for o in outs:
        Path(f"{o}.go").touch()
    assert [p.wait(30) for p in procs] == [0, 0, 0, 0]


def test_each_vendor_gets_its_variables_and_the_cores_node(env: Env, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = start(env, "--cores", "1", "--gpus", "2", "--", "sh", "-c", report_gpus(out))
    wait_until(out.exists, message="the reservation")
    assert out.read_text().strip().split("|") == [
        "0000:17:00.0,0000:18:00.0",  # both GPUs of node 0: an NVIDIA and an AMD one
        "0000:17:00.0",
        "0000:18:00.0",
        "0",  # CUDA_VISIBLE_DEVICES: NVIDIA's first, by index (no NVML here)
        "PCI_BUS_ID",  # ... in the order CUDA is told to count
        "0",  # ROCR_VISIBLE_DEVICES: AMD's first
        "0",  # HIP_VISIBLE_DEVICES: the first of what ROCr shows
        "0",
        "0,8",
    ]
    status = _reservations(env)
    assert status[0]["gpu_addresses"] == ["0000:17:00.0", "0000:18:00.0"]
    Path(f"{out}.go").touch()
    assert proc.wait(30) == 0


def test_kill_9_frees_the_gpus_for_a_waiter_at_once(env: Env, tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    holder = start(env, "--gpus", "4", "--", "sh", "-c", report_gpus(first))
    wait_until(first.exists, message="the reservation of every GPU")
    waiter = start(env, "--gpus", "1", "--", "sh", "-c", report_gpus(second))
    wait_until(lambda: _waiting(env), message="the waiter to queue")
    killed = time.monotonic()
    holder.send_signal(signal.SIGKILL)
    holder.wait(10)
    wait_until(second.exists, timeout=5, interval=0.005, message="the waiter to start")
    assert time.monotonic() - killed < 1.0
    assert second.read_text().split("|")[0] == "0000:17:00.0"
    Path(f"{second}.go").touch()
    assert waiter.wait(10) == 0
