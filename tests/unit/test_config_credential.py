"""pools.yaml's `credential: true`: always secret, minted per ticket, bad keys named by line."""

from __future__ import annotations

from pathlib import Path

from lessor.config.pools import read_pools


def pools_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pools.yaml"
    path.write_text(text)
    return path


def test_a_credential_pool_is_secret_and_started_only_for_a_waiting_ticket(
    tmp_path: Path,
) -> None:
    path = pools_file(tmp_path, "pg-role:\n  tags: [pg-role]\n  credential: true\n")
    read = read_pools(path, runs_hooks=False)
    assert read.errors == ()
    (pool,) = read.pools
    assert pool.secret_data  # without saying so: its data never reaches listings or the UI
    assert pool.start_for_waiting
    assert pool.prealloc == 0  # no credential is minted before a ticket asks for it


def test_keys_contradicting_a_credential_are_one_line_each_naming_file_and_line(
    tmp_path: Path,
) -> None:
    path = pools_file(
        tmp_path,
        "a:\n  tags: [x]\n  credential: true\n  secret_data: false\n  max_prealloc: 2\n"
        "b:\n  tags: [y]\n  credential: true\n  reuse_opportunity_time: 30\n"
        "  target_wait: {p95: 5}\n",
    )
    errors = read_pools(path, runs_hooks=False).errors
    assert (
        f"{path}:4: pool 'a': a credential pool's data is always secret; remove secret_data: false"
        in errors
    )
    assert any(
        e.startswith(f"{path}:5: pool 'a': max_prealloc 2 on a credential pool") for e in errors
    )
    assert any(e.startswith(f"{path}:9: pool 'b': reuse_opportunity_time 30") for e in errors)
    assert any(e.startswith(f"{path}:10: pool 'b': target_wait on a credential") for e in errors)
    assert all("\n" not in e for e in errors)


def test_a_credential_pool_needs_cmd_delete_and_only_a_credential_pool_takes_cmd_extend(
    tmp_path: Path,
) -> None:
    path = pools_file(
        tmp_path,
        "a:\n  tags: [x]\n  credential: true\n  cmd_new: /bin/true\n"
        "b:\n  tags: [y]\n  cmd_new: /bin/true\n  cmd_extend: /bin/true\n",
    )
    errors = read_pools(path).errors
    assert errors == (
        f"{path}:1: pool 'a': no cmd_delete: a credential pool needs the command that "
        "revokes its credentials",
        f"{path}:8: pool 'b': cmd_extend is run only for a credential pool's tickets; "
        "add credential: true or remove it",
    )
