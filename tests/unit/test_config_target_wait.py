"""pools.yaml's target_wait keys: read into the pool, bad values named by file and line."""

from __future__ import annotations

from pathlib import Path

from lessor.config.pools import read_pools


def pools_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pools.yaml"
    path.write_text(text)
    return path


def test_target_wait_cost_and_floor_are_read_and_bursts_go_on_demand(tmp_path: Path) -> None:
    path = pools_file(
        tmp_path,
        "cloud:\n  tags: [x]\n  max_prealloc: 6\n  min_prealloc: 1\n"
        "  target_wait: {p95: 30}\n  cost_per_hour: 0.12\n",
    )
    read = read_pools(path, runs_hooks=False)
    assert read.errors == ()
    (pool,) = read.pools
    assert (pool.target_wait_p95, pool.cost_per_hour, pool.min_prealloc) == (30.0, 0.12, 1)
    assert pool.start_for_waiting  # a burst beyond the sized spares is served on demand
    assert pool.prealloc == 6  # until the first sizing: max_prealloc


def test_bad_target_wait_keys_are_one_line_each_naming_file_and_line(tmp_path: Path) -> None:
    path = pools_file(
        tmp_path,
        "a:\n  tags: [x]\n  max_prealloc: 2\n  min_prealloc: 3\n"
        "b:\n  tags: [y]\n  target_wait: {p59: 30}\n"
        "c:\n  tags: [z]\n  target_wait: {p95: 0}\n  cost_per_hour: -1\n",
    )
    errors = read_pools(path, runs_hooks=False).errors
    assert f"{path}:4: pool 'a': min_prealloc 3 is above max_prealloc 2, the ceiling" in errors
    assert f"{path}:7: pool 'b': target_wait.p59: Extra inputs are not permitted" in errors
    assert f"{path}:10: pool 'c': target_wait.p95: Input should be greater than 0" in errors
    assert any(e.startswith(f"{path}:11: pool 'c': cost_per_hour:") for e in errors)
    assert all("\n" not in e for e in errors)
