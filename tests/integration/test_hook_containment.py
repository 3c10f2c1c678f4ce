"""A hook and all it starts die as one unit: after a timeout, a cancellation, a server's kill -9.

Each hook here starts three children that try to escape — one through
`env -i` (no LESSOR_HOOK_RUN token), one through `setsid` (a session of its
own), one through a double fork (its parent exits, so it is re-parented) —
each sleeping and writing its pid to a file. None may survive. Run with every
mechanism this machine offers (cgroup where lessor may create cgroups, the
subreaper everywhere on Linux).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
from tests.conftest import wait_until

from lessor.domain.hooks import Hook
from lessor.runner.hooks import TIMEOUT_EXIT, HookResult, HookRunner
from lessor.runner.units import own_cgroup

MECHANISMS = [
    pytest.param(
        "cgroup",
        marks=pytest.mark.skipif(own_cgroup() is None, reason="no writable cgroup v2 here"),
    ),
    "subreaper",
]
ESCAPEES = ("envi", "setsid", "double")


def write_hook(tmp_path: Path) -> str:
    """A cmd_new that prints an instance id first, starts the escapees and waits."""
    (tmp_path / "sleeper.sh").write_text('echo $$ > "$1/$2"\nexec sleep 300\n')
    (tmp_path / "hook.sh").write_text(
        "echo i-42\n"
        'env -i /bin/sh "$D/sleeper.sh" "$D" envi &\n'
        'setsid /bin/sh "$D/sleeper.sh" "$D" setsid &\n'
        '/bin/sh -c \'/bin/sh "$1/sleeper.sh" "$1" double & exit 0\' sh "$D"\n'
        "sleep 300\n"
    )
    return f'/bin/sh "{tmp_path}/hook.sh"'


def escapees(tmp_path: Path) -> dict[str, psutil.Process]:
    """The children once all three have written their pid (empty before)."""
    found = {}
    for name in ESCAPEES:
        try:
            found[name] = psutil.Process(int((tmp_path / name).read_text()))
        except (OSError, ValueError, psutil.Error):
            return {}
    return found


def alive(proc: psutil.Process) -> bool:
    """Still the same process (not a reused pid), and not a zombie."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def assert_all_dead(children: dict[str, psutil.Process]) -> None:
    wait_until(
        lambda: not any(alive(p) for p in children.values()),
        timeout=5,
        message=f"escapees to die: {[n for n, p in children.items() if alive(p)]}",
    )


@pytest.fixture
def reap_strays(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Whatever a failing test leaves behind is killed at the end."""
    yield
    for proc in escapees(tmp_path).values():
        if alive(proc):
            proc.kill()


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_a_hook_that_times_out_is_killed_with_all_it_started(
    tmp_path: Path, mechanism: str, reap_strays: None
) -> None:
    runner = HookRunner(tmp_path / "logs", containment=mechanism)
    assert runner.mechanism == mechanism
    command = write_hook(tmp_path)

    async def main() -> tuple[HookResult, dict[str, psutil.Process]]:
        task = asyncio.create_task(
            runner.run(command, {"D": str(tmp_path)}, hook=Hook.NEW, resource_id=7, timeout=3)
        )
        while not (children := escapees(tmp_path)):
            await asyncio.sleep(0.02)
        return await task, children

    result, children = asyncio.run(main())
    assert result.exit_code == TIMEOUT_EXIT
    assert result.stdout == b"i-42\n"  # what it printed before the timeout is kept
    assert_all_dead(children)
    assert not list(runner.running_dir.iterdir())


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_a_cancelled_hook_is_killed_with_all_it_started(
    tmp_path: Path, mechanism: str, reap_strays: None
) -> None:
    runner = HookRunner(tmp_path / "logs", containment=mechanism)
    command = write_hook(tmp_path)

    async def main() -> dict[str, psutil.Process]:
        task = asyncio.create_task(
            runner.run(command, {"D": str(tmp_path)}, hook=Hook.NEW, resource_id=7, timeout=300)
        )
        while not (children := escapees(tmp_path)):
            await asyncio.sleep(0.02)
        assert all(alive(p) for p in children.values())
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return children

    assert_all_dead(asyncio.run(main()))


SERVER = """
import asyncio, sys
from pathlib import Path
from lessor.domain.hooks import Hook
from lessor.runner.hooks import HookRunner

logdir, mechanism, command, where = sys.argv[1:]
runner = HookRunner(Path(logdir), containment=mechanism)
asyncio.run(runner.run(command, {"D": where}, hook=Hook.NEW, resource_id=42, timeout=300))
"""
RESTART = """
import sys
from collections.abc import Callable
from pathlib import Path
from lessor.runner.hooks import HookRunner

runner = HookRunner(Path(sys.argv[1]))
print(" ".join(map(str, runner.kill_leftovers())))
print(runner.recover_output(42).decode())
"""


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_after_a_kill_9_of_the_server_a_restart_kills_what_its_hooks_left(
    tmp_path: Path, mechanism: str, reap_strays: None
) -> None:
    crash_and_restart(tmp_path, mechanism)


def test_a_restart_after_an_upgrade_finds_what_an_older_lessor_kept_in_hooks(
    tmp_path: Path, reap_strays: None
) -> None:
    """lessor kept its run records and cmd_new's outputs in hooks/running/ and hooks/output/,
    where resalloc's hourly merge-hook-logs cron eats them; they live in hook-runs/ now."""

    def as_before(logdir: Path) -> None:
        for name in ("running", "output"):
            (logdir / "hook-runs" / name).rename(logdir / "hooks" / name)

    crash_and_restart(tmp_path, MECHANISMS[-1], as_before)
    assert sorted(p.name for p in (tmp_path / "logs" / "hooks").iterdir()) == ["000042_alloc"]


def crash_and_restart(
    tmp_path: Path, mechanism: str, before_restart: Callable[[Path], None] = lambda _: None
) -> None:
    logdir = tmp_path / "logs"
    command = write_hook(tmp_path)
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(logdir), mechanism, command, str(tmp_path)]
    )
    try:
        children = wait_until(lambda: escapees(tmp_path), message="the hook's children")
        assert isinstance(children, dict)
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait()
    # The server is gone; its hook and every child it started go on.
    assert all(alive(p) for p in children.values())
    before_restart(logdir)

    restart = subprocess.run(
        [sys.executable, "-c", RESTART, str(logdir)],
        capture_output=True,
        text=True,
        check=True,
    )
    killed_line, output = restart.stdout.split("\n", 1)
    killed = {int(pid) for pid in killed_line.split()}
    assert {p.pid for p in children.values()} <= killed
    assert_all_dead(children)
    assert os.getpid() not in killed
    # What the dead cmd_new printed before the crash is there for cmd_delete.
    assert output == "i-42\n\n"


def test_what_a_hook_leaves_running_when_it_ends_by_itself_is_not_a_leftover(
    tmp_path: Path,
) -> None:
    """The pretend VM of examples/fake-cloud: a background process cmd_new leaves on purpose."""
    runner = HookRunner(tmp_path / "logs")
    (tmp_path / "sleeper.sh").write_text('echo $$ > "$1/$2"\nexec sleep 300\n')
    command = f'/bin/sh "{tmp_path}/sleeper.sh" "{tmp_path}" envi >/dev/null 2>&1 & echo vm'
    result = asyncio.run(runner.run(command, {}, hook=Hook.NEW, resource_id=3, timeout=30))
    assert result.ok and result.stdout == b"vm\n"
    pid_file = tmp_path / "envi"
    wait_until(lambda: pid_file.exists() and pid_file.read_text().strip(), message="the VM's pid")
    vm = psutil.Process(int(pid_file.read_text()))
    try:
        assert runner.kill_leftovers() == []
        assert alive(vm)
    finally:
        vm.kill()
