"""What a running server's hooks find in their environment: resalloc's variables, no secrets."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.conftest import ServerProcess, wait_until
from tests.e2e.helpers import write_pools


def dumped(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def test_hooks_do_not_inherit_the_servers_admin_token_or_other_variables(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    dump = tmp_path / "env"
    dump.mkdir()
    pools = write_pools(
        tmp_path / "pools.yaml",
        "envp:\n  max: 1\n  max_prealloc: 1\n  tags: [e]\n"
        f"  cmd_new: env > {dump}/new.tmp && mv {dump}/new.tmp {dump}/new; echo ok\n"
        "  cmd_delete: 'true'\n",
    )
    server = start_server(
        pools,
        LESSOR_SERVER_ADMIN_TOKEN="admin-SECRET",
        PGPASSWORD="db-SECRET",
        OS_CLOUD="mycloud",
        LESSOR_HOOK_ENV="OS_CLOUD",
    )
    wait_until((dump / "new").exists, message="cmd_new")
    text = (dump / "new").read_text()
    assert "SECRET" not in text
    env = dumped(dump / "new")
    assert env["OS_CLOUD"] == "mycloud"  # listed by the admin
    assert env["PATH"] == server.env["PATH"]
    assert env["RESALLOC_POOL_ID"] == "envp" and env["LESSOR_HOOK"] == "cmd_new"
    assert "RESALLOC_RESOURCE_DATA" not in env  # nothing printed yet, as in resalloc
