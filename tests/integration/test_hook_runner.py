"""Hook runs as an operator and a hook script see them: resalloc's logs, a clean environment.

Real processes, no server: what lands in `hooks/{id:06d}_{suffix}` byte for
byte, what cmd_new's stdout becomes on success, timeout and failure, what a
hook finds in its environment and its working directory.
"""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import pytest

from lessor.domain.hooks import Hook
from lessor.domain.model import Resource
from lessor.domain.states import ResourceState
from lessor.runner.env import hook_env
from lessor.runner.hooks import TIMEOUT_EXIT, HookResult, HookRunner


def run(runner: HookRunner, command: str, hook: Hook, **kw: object) -> HookResult:
    kw.setdefault("timeout", 30)
    kw.setdefault("resource_id", 5)
    return asyncio.run(runner.run(command, kw.pop("env", {}), hook=hook, **kw))  # type: ignore[arg-type]


def log_bytes(tmp_path: Path, hook: Hook, resource_id: int = 5) -> bytes:
    return (tmp_path / "hooks" / f"{resource_id:06d}_{hook.log_suffix}").read_bytes()


def test_a_hook_log_holds_exactly_what_the_hook_wrote_run_after_run(tmp_path: Path) -> None:
    runner = HookRunner(tmp_path)
    for n in (1, 2):
        done = run(runner, f"echo out{n}; echo err{n} >&2; printf 'tail{n}'", Hook.LIVECHECK)
        assert done.ok and done.stdout == b""
    assert log_bytes(tmp_path, Hook.LIVECHECK) == b"out1\nerr1\ntail1out2\nerr2\ntail2"


def test_cmd_new_stdout_is_its_data_and_is_logged_in_order_with_stderr(tmp_path: Path) -> None:
    runner = HookRunner(tmp_path)
    done = run(runner, "echo i-1; sleep 0.2; echo booting >&2; sleep 0.2; echo 10.0.0.7", Hook.NEW)
    assert done.ok and done.stdout == b"i-1\n10.0.0.7\n" == done.data
    assert log_bytes(tmp_path, Hook.NEW) == b"i-1\nbooting\n10.0.0.7\n"
    # kept until the reconciler has stored the outcome
    assert runner.recover_output(5) == b"i-1\n10.0.0.7\n"
    runner.discard_output(5)
    assert runner.recover_output(5) is None


def test_a_secret_pools_data_is_never_written_to_its_log(tmp_path: Path) -> None:
    runner = HookRunner(tmp_path)
    done = run(runner, "echo token-SECRET; echo minted >&2; exit 3", Hook.NEW, secret=True)
    assert done.exit_code == 3 and done.stdout == b"token-SECRET\n"
    assert log_bytes(tmp_path, Hook.NEW) == b"minted\n"


def test_a_timed_out_cmd_new_keeps_what_it_printed_and_logs_resallocs_marker(
    tmp_path: Path,
) -> None:
    runner = HookRunner(tmp_path)
    done = run(runner, "echo i-123; exec sleep 30", Hook.NEW, timeout=0.5)
    assert done.exit_code == TIMEOUT_EXIT and not done.ok
    assert done.stdout == b"i-123\n"
    assert log_bytes(tmp_path, Hook.NEW) == b"i-123\n<timeouted after 0.5s>\n"
    assert done.describe("cmd_new").startswith("cmd_new timed out after")


def test_cmd_list_output_is_captured_and_logged(tmp_path: Path) -> None:
    runner = HookRunner(tmp_path)
    done = run(runner, "echo vm_a vm_b; echo listing >&2", Hook.LIST, resource_id=0)
    assert done.stdout == b"vm_a vm_b\n"
    assert log_bytes(tmp_path, Hook.LIST, 0) == b"vm_a vm_b\nlisting\n"
    assert not list(runner.output_dir.iterdir())  # nothing kept for a listing


def test_cmd_new_data_is_trimmed_at_512_bytes_as_resalloc_does(tmp_path: Path) -> None:
    runner = HookRunner(tmp_path)
    done = run(runner, "i=0; while [ $i -lt 100 ]; do echo line-$i; i=$((i+1)); done", Hook.NEW)
    printed = b"".join(b"line-%d\n" % i for i in range(100))
    assert done.stdout == printed
    assert done.data.endswith(b"\n<< trimmed >>\n") and len(done.data) <= 512 + 14
    assert printed.startswith(done.data[: -len(b"<< trimmed >>\n")])
    assert log_bytes(tmp_path, Hook.NEW) == printed  # the log keeps everything


def test_a_hook_that_cannot_start_says_why_and_logs_nothing_of_lessors(tmp_path: Path) -> None:
    runner = HookRunner(tmp_path)
    done = run(runner, "true", Hook.DELETE, cwd=tmp_path / "missing")
    assert done.exit_code == 127 and "missing" in done.describe("cmd_delete")
    assert log_bytes(tmp_path, Hook.DELETE) == b""


def test_hooks_run_in_the_directory_they_are_given(tmp_path: Path) -> None:
    runner = HookRunner(tmp_path / "logs")
    (tmp_path / "pools").mkdir()
    done = run(runner, "pwd", Hook.NEW, cwd=tmp_path / "pools")
    assert done.stdout.decode().strip() == str(tmp_path / "pools")


def env_of(done: HookResult) -> dict[str, str]:
    return dict(line.split("=", 1) for line in done.stdout.decode().splitlines() if "=" in line)


def test_hooks_get_a_clean_environment_without_the_servers_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LESSOR_SERVER_ADMIN_TOKEN", "admin-SECRET")
    monkeypatch.setenv("PGPASSWORD", "db-SECRET")
    monkeypatch.setenv("OS_CLOUD", "mycloud")
    monkeypatch.setenv("AWS_PROFILE", "ci")
    monkeypatch.setenv("LC_TIME", "C")
    runner = HookRunner(tmp_path, pass_env=["OS_*"])
    r = Resource(5, "p", "p_5", ResourceState.STARTING, id_in_pool=2)
    done = run(runner, "env", Hook.NEW, env=hook_env(r, Hook.NEW), pass_env=["AWS_PROFILE"])
    env = env_of(done)
    assert "SECRET" not in done.stdout.decode()
    assert env["OS_CLOUD"] == "mycloud" and env["AWS_PROFILE"] == "ci"  # as the admin listed
    assert env["PATH"] and env["LC_TIME"] == "C"
    assert env["RESALLOC_ID"] == "5" and env["RESALLOC_ID_IN_POOL"] == "2"
    assert "RESALLOC_RESOURCE_DATA" not in env  # cmd_new: there is no data yet, as in resalloc
    assert env["LESSOR_HOOK"] == "cmd_new"


def test_cmd_delete_gets_the_data_cmd_new_printed(tmp_path: Path) -> None:
    runner = HookRunner(tmp_path)
    r = Resource(5, "p", "p_5", ResourceState.DELETING, data=b"i-9\n")
    env = env_of(run(runner, "env", Hook.NEW, env=hook_env(r, Hook.DELETE)))  # captured
    assert base64.b64decode(env["RESALLOC_RESOURCE_DATA"]) == b"i-9\n"
    assert env["LESSOR_RESOURCE_DATA"] == "i-9"  # env's own line ends it
