"""The native `lessor` launcher (src/lessor/hw/native/lessor.c) against the Python `lessor hw`.

It is compiled here from the source (warnings are errors), next to a
`lessor-python` that is the venv's, as scripts/setup installs them. Without
a C compiler these tests skip, except in CI, where that is a failure.
LESSOR_NATIVE_CFLAGS adds flags, e.g. `-fsanitize=address,undefined -g`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from tests.conftest import wait_until
from tests.hw.fake_sysfs import two_socket_smt
from tests.hw.native import build, warm

from lessor.hw.state import State
from lessor.hw.usage import intervals

PY_HW = [sys.executable, "-m", "lessor.hw"]

Env = dict[str, str]


@pytest.fixture(scope="session")
def native(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The launcher, built as scripts/setup builds it, with `lessor-python` beside it."""
    python_cli = Path(sys.executable).parent / "lessor-python"
    assert python_cli.exists(), "lessor-python is not installed: run scripts/setup"
    bin_dir = tmp_path_factory.mktemp("bin")
    out = build(bin_dir / "lessor")
    (bin_dir / "lessor-python").symlink_to(python_cli)
    return str(out)


def _env(tmp_path: Path, hw_yaml: str, sysfs: Path | None) -> Env:
    cfg = tmp_path / "hw.yaml"
    cfg.write_text(hw_yaml)
    env = {
        **os.environ,
        "LESSOR_HW_CONFIG": str(cfg),
        "LESSOR_HW_STATE_DIR": str(tmp_path / "state"),
    }
    env.pop("LESSOR_HW_SERVER", None)
    env.pop("LESSOR_SYSFS_ROOT", None)
    if sysfs is not None:
        env["LESSOR_SYSFS_ROOT"] = str(sysfs)
    return env


SHAPES = [
    ["--cores", "1"],
    ["--cores", "2"],
    ["--cores", "8", "--nics", "1", "--numa", "any"],
    ["--cores", "8", "--nics", "4", "--numa", "any"],
]
"""The requests the tests run natively."""


def _warm(native: str, env: Env, shapes: list[list[str]] = SHAPES) -> None:
    """What the first run of each request would do in Python: write its plan for the launcher."""
    warm(sys.executable, env, shapes)


@pytest.fixture
def cold(tmp_path: Path) -> Iterator[Env]:
    """A fake two-socket SMT machine, all cores, NICs and GPUs reservable, no plans yet."""
    yield _env(
        tmp_path,
        "cores: 0-7\nprofiles:\n  ci: {cores: 2, nics: 2}\n",
        two_socket_smt(tmp_path / "sys"),
    )
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if proc.pid != os.getpid() and proc.environ().get("LESSOR_HW_STATE_DIR") == str(
                tmp_path / "state"
            ):
                proc.kill()


@pytest.fixture
def env(cold: Env, native: str) -> Env:
    """The same machine with the plans of the requests the tests run natively."""
    _warm(native, cold)
    return cold


def report(out: Path) -> str:
    """Shell: write what the command got and which program is its parent, wait for out.go."""
    return (
        f'echo "$LESSOR_CPUS|$NIC0,$NIC1|$LESSOR_NUMA_NODE|$(readlink /proc/$PPID/exe)" '
        f"> {out}.tmp && mv {out}.tmp {out}; while [ ! -e {out}.go ]; do sleep 0.01; done"
    )


def _got(out: Path) -> list[str]:
    return out.read_text().strip().split("|")


def _status(env: Env) -> dict[str, list[dict[str, object]]]:
    done = subprocess.run(
        [*PY_HW, "status", "--json"], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def _run(argv: list[str], env: Env) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)


def _alive(pid: int) -> bool:
    with contextlib.suppress(psutil.Error):
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    return False


def test_the_command_runs_natively_pinned_to_the_reserved_cpus(native: str, tmp_path: Path) -> None:
    """On this machine's real CPUs: affinity seen from inside equals what was reserved."""
    cpus = sorted(os.sched_getaffinity(0))
    env = _env(tmp_path, f"cores: {cpus[-1]}\n", None)
    _warm(native, env, [["--cores", "1"]])
    probe = (
        "import os; print(sorted(os.sched_getaffinity(0)), os.environ['LESSOR_CPUS'], "
        "os.readlink(f'/proc/{os.getppid()}/exe'))"
    )
    done = subprocess.run(
        [native, "hw", "--cores", "1", "--", sys.executable, "-c", probe],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    seen, told, parent = done.stdout.split()
    assert parent == native  # the launcher itself ran it, not Python
    assert str(cpus[-1]) in told.split(",")
    assert json.loads(seen) == sorted(int(c) for c in told.split(","))


def test_on_a_fake_machine_affinity_is_what_of_the_reservation_exists_here(
    native: str, env: Env
) -> None:
    """Fake CPUs are not real: both paths pin to the reserved ones this machine has, or warn."""
    probe = "import os; print(sorted(os.sched_getaffinity(0)), os.environ['LESSOR_CPUS'])"
    here = os.sched_getaffinity(0)
    for core in (max(here), 7):  # a core whose first CPU exists here, and one that does not
        Path(env["LESSOR_HW_CONFIG"]).write_text(f"cores: {core}\n")
        _warm(native, env, [["--cores", "1"]])
        runs = [
            _run([exe, "hw", "--cores", "1", "--", sys.executable, "-c", probe], env)
            for exe in (native, str(Path(native).parent / "lessor-python"))
        ]
        assert runs[0].stdout == runs[1].stdout and runs[0].stderr == runs[1].stderr
        seen, told = runs[0].stdout.rsplit(" ", 1)
        reserved = {int(c) for c in told.split(",")}
        assert reserved == {core, core + 8}
        if reserved & here:
            assert json.loads(seen) == sorted(reserved & here) and runs[0].stderr == ""
        else:
            assert json.loads(seen) == sorted(here) and "affinity not set" in runs[0].stderr


def test_concurrent_native_reservations_never_share_a_core_or_nic(
    native: str, env: Env, tmp_path: Path
) -> None:
    outs = [tmp_path / f"out{i}" for i in range(4)]
    kinds = [["--profile", "ci"], ["--profile", "ci"], ["--cores", "2"], ["--cores", "2"]]
    procs = [
        subprocess.Popen([native, "hw", *k, "--", "sh", "-c", report(o)], env=env)
        for k, o in zip(kinds, outs, strict=True)
    ]
    wait_until(lambda: all(o.exists() for o in outs), message="four holders running")
    got = [_got(o) for o in outs]
    assert all(g[3] == native for g in got)
    cpus = [set(g[0].split(",")) for g in got]
    nics = [set(g[1].split(",")) - {""} for g in got]
    for i in range(4):
        for j in range(i + 1, 4):
            assert not cpus[i] & cpus[j] and not nics[i] & nics[j]
    assert set().union(*cpus) == {str(c) for c in range(16)}  # whole cores: SMT siblings too
    for i in (0, 1):  # a CI holder's cores and NICs are on the node it was told
        node = int(got[i][2])
        assert all((int(c) % 8) // 4 == node for c in cpus[i])
        assert nics[i] == ({"0000:01:00.0", "0000:02:00.0"}, {"0000:03:00.0", "0000:04:00.0"})[node]
    for o in outs:
        Path(f"{o}.go").touch()
    assert [p.wait(30) for p in procs] == [0, 0, 0, 0]


def test_a_native_reservation_is_seen_by_python_and_blocks_it_until_it_ends(
    native: str, env: Env, tmp_path: Path
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    holder = subprocess.Popen(
        [
            native,
            "hw",
            "--cores",
            "8",
            "--nics",
            "1",
            "--numa",
            "any",
            "--",
            "sh",
            "-c",
            report(first),
        ],
        env=env,
    )
    wait_until(first.exists, message="the native holder")
    held = _status(env)["reservations"]
    assert len(held) == 1
    h = held[0]
    assert h["pid"] == holder.pid and h["user"] and h["command"] == f"sh -c {report(first)}"
    assert isinstance(h["since"], float) and abs(h["since"] - time.time()) < 60
    assert h["cpus"] == list(range(16)) and h["nic_names"] == ["eth0"] and h["cores"] == 8
    waiter = subprocess.Popen(
        [*PY_HW, "--cores", "1", "--", "sh", "-c", report(second)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_until(lambda: len(_status(env)["waiters"]) == 1, message="the Python waiter to queue")
    assert not second.exists()
    Path(f"{first}.go").touch()
    assert holder.wait(10) == 0
    wait_until(second.exists, message="the Python waiter to start")
    Path(f"{second}.go").touch()
    assert waiter.wait(10) == 0
    assert waiter.stderr is not None
    assert f"reserved by {h['user']} pid {holder.pid} (sh -c" in waiter.stderr.read()
    events = State(str(tmp_path / "state")).usage()
    assert [kind for kind, e in events if e["token"] == h["token"]] == ["reserve", "release"]


def test_with_anyone_queued_the_launcher_queues_behind_them_in_python(
    native: str, env: Env, tmp_path: Path
) -> None:
    """FIFO: cores are free for a small request, but an earlier one waits, so it waits too."""
    outs = {k: tmp_path / k for k in ("holder", "big", "small")}
    holder = subprocess.Popen(
        [*PY_HW, "--cores", "4", "--", "sh", "-c", report(outs["holder"])], env=env
    )
    wait_until(outs["holder"].exists, message="the Python holder")
    big = subprocess.Popen(
        [native, "hw", "--cores", "8", "--", "sh", "-c", report(outs["big"])], env=env
    )
    wait_until(lambda: len(_status(env)["waiters"]) == 1, message="the big request to queue")
    small = subprocess.Popen(
        [native, "hw", "--cores", "1", "--", "sh", "-c", report(outs["small"])], env=env
    )
    wait_until(lambda: len(_status(env)["waiters"]) == 2, message="the small one to queue")
    assert not outs["small"].exists()
    Path(f"{outs['holder']}.go").touch()
    assert holder.wait(10) == 0
    wait_until(outs["big"].exists, message="the big request to start first")
    assert not outs["small"].exists()
    Path(f"{outs['big']}.go").touch()
    assert big.wait(10) == 0
    wait_until(outs["small"].exists, message="the small request last")
    Path(f"{outs['small']}.go").touch()
    assert small.wait(10) == 0


def test_kill_9_of_a_native_reservation_frees_its_hardware_and_ends_its_command(
    native: str, env: Env, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [native, "hw", "--cores", "8", "--nics", "4", "--numa", "any", "--", "sh", "-c",
         f"echo $$ > {tmp_path}/child; " + report(out)],
        env=env,
    )  # fmt: skip
    wait_until(out.exists, message="the holder")
    assert _got(out)[3] == native
    token = _status(env)["reservations"][0]["token"]
    child = int((tmp_path / "child").read_text())
    holder.send_signal(signal.SIGKILL)
    holder.wait(10)
    wait_until(lambda: not _alive(child), message="the command to die with its holder")
    assert _status(env)["reservations"] == []
    again = subprocess.run(
        [native, "hw", "--cores", "8", "--nics", "4", "--numa", "any", "--", "true"],
        env=env,
        timeout=30,
        check=False,
    )
    assert again.returncode == 0
    # kill -9 wrote no release: the killed reservation ends when the next one took its cores
    spans = {s.token: s for s in intervals(State(str(tmp_path / "state")).usage())}
    later = [s for s in spans.values() if s.start > spans[token].start]
    assert later and spans[token].end == min(s.start for s in later)


def test_exit_codes_and_signals_are_the_commands(native: str, env: Env, tmp_path: Path) -> None:
    def code(*command: str) -> int:
        return subprocess.run(
            [native, "hw", "--cores", "1", "--", *command], env=env, timeout=30, check=False
        ).returncode

    assert code("sh", "-c", "exit 7") == 7
    assert code("sh", "-c", "kill -9 $$") == 128 + 9
    missing = [native, "hw", "--cores", "1", "--", "no-such-command-here"]
    assert _run(missing, env).stderr == (
        "lessor hw: cannot run no-such-command-here: No such file or directory\n"
    )
    assert code("no-such-command-here") == 127
    proc = subprocess.Popen(
        [native, "hw", "--cores", "1", "--", "sh", "-c",
         f"trap 'exit 42' TERM; touch {tmp_path}/up; while :; do sleep 0.05; done"],
        env=env,
    )  # fmt: skip
    wait_until((tmp_path / "up").exists, message="the command")
    proc.send_signal(signal.SIGTERM)  # to the launcher: forwarded to the command
    assert proc.wait(10) == 42


def test_an_edited_hw_yaml_goes_to_python_once_then_native_again(
    native: str, env: Env, tmp_path: Path
) -> None:
    def parent() -> str:
        done = subprocess.run(
            [
                native,
                "hw",
                "--cores",
                "1",
                "--",
                "sh",
                "-c",
                'readlink /proc/$PPID/exe; echo "$LESSOR_CPUS"',
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout

    assert parent() == f"{native}\n0,8\n"
    Path(env["LESSOR_HW_CONFIG"]).write_text("cores: 5-7\n")
    assert parent().split("\n")[1] == "5,13"  # Python read the new file ...
    assert parent() == f"{native}\n5,13\n"  # ... and wrote the cache the launcher reads


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["--version"],
        ["tickets", "--help"],
        ["hw", "--help"],
        ["hw"],
        ["hw", "--cores", "two", "--", "true"],
        ["hw", "--cores", "1", "--bogus", "1", "--", "true"],
        ["hw", "--cores", "1"],
        ["hw", "--cores", "0", "--", "true"],
        ["hw", "--profile", "nope", "--", "true"],
        ["hw", "--cores", "99", "--", "true"],
        ["hw", "--cores", "1", "--time-limit", "5", "--", "sh", "-c", "echo $LESSOR_CPUS"],
        ["hw", "--cores", "1", "--smt", "--", "sh", "-c", "echo $LESSOR_CPUS"],
        ["hw", "--cores", "1", "--no-wait", "--", "sh", "-c", "echo $LESSOR_CPUS"],
        ["hw", "--cores", "1", "--wait-timeout", "5", "--", "sh", "-c", "echo $LESSOR_CPUS"],
        ["hw", "--cores=1", "--", "sh", "-c", "echo $LESSOR_CPUS"],
        ["hw", "--numa", "some", "--cores", "1", "--", "true"],
        ["hw", "pools", "--host", "lab1"],
        ["hw", "--server", "http://127.0.0.1:9", "--cores", "1", "--", "true"],
        ["--server", "http://127.0.0.1:9", "hw", "--cores", "1", "--", "true"],
        ["hw", "topology"],
        ["hw", "status"],
    ],
)
def test_what_the_launcher_does_not_do_is_the_python_clis_own(
    native: str, cold: Env, args: list[str]
) -> None:
    env = cold
    python_cli = str(Path(native).parent / "lessor-python")
    native_run, python_run = (
        subprocess.run(
            [exe, *args], env=env, capture_output=True, text=True, timeout=60, check=False
        )
        for exe in (native, python_cli)
    )
    assert (native_run.returncode, native_run.stdout, native_run.stderr) == (
        python_run.returncode,
        python_run.stdout,
        python_run.stderr,
    )


def test_lessor_hw_server_in_the_environment_goes_to_python(native: str, env: Env) -> None:
    args = ["hw", "--cores", "1", "--", "true"]
    env = {**env, "LESSOR_HW_SERVER": "http://127.0.0.1:9"}
    native_run = _run([native, *args], env)
    python_run = _run([str(Path(native).parent / "lessor-python"), *args], env)
    assert native_run.returncode == python_run.returncode == 76
    assert native_run.stderr == python_run.stderr


def test_the_python_cli_behind_the_launcher_still_calls_itself_lessor(native: str) -> None:
    done = _run([native, "--help"], dict(os.environ))
    assert done.returncode == 0 and done.stdout.startswith("Usage: lessor [OPTIONS]")


def test_the_command_gets_sigpipe_as_from_a_shell_from_both(native: str, env: Env) -> None:
    """Python ignores SIGPIPE and SIGXFSZ for itself; neither run path passes that on."""
    python_cli = str(Path(native).parent / "lessor-python")
    probe = ["hw", "--cores", "1", "--", "grep", "SigIgn", "/proc/self/status"]
    seen = [_run([exe, *probe], env).stdout.split()[1] for exe in (native, python_cli)]
    pipe, xfsz = 1 << (signal.SIGPIPE - 1), 1 << (signal.SIGXFSZ - 1)
    assert seen[0] == seen[1] and int(seen[0], 16) & (pipe | xfsz) == 0
