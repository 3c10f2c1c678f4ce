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


def test_a_tag_target_sizes_every_pool_carrying_the_tag(tmp_path: Path) -> None:
    path = pools_file(
        tmp_path,
        "cheap:\n  tags: [{name: fedora, target_wait: {p95: 30}}, x86]\n  max_prealloc: 4\n"
        "dear:\n  tags: [fedora]\n  max_prealloc: 2\n  cost_per_hour: 2\n"
        "other:\n  tags: [rhel]\n",
    )
    read = read_pools(path, runs_hooks=False)
    assert read.errors == ()
    cheap, dear, other = read.pools
    for pool in (cheap, dear):
        assert (pool.target_tag, pool.target_wait_p95) == ("fedora", 30.0)
        assert pool.start_for_waiting  # bursts beyond the stock go on demand
    assert (other.target_tag, other.target_wait_p95) == (None, None)


def test_conflicting_tag_targets_are_one_line_each_naming_file_and_line(tmp_path: Path) -> None:
    path = pools_file(
        tmp_path,
        "a:\n  tags: [{name: t, target_wait: {p95: 30}}]\n"
        "b:\n  tags: [{name: t, target_wait: {p95: 60}}]\n"
        "c:\n  tags: [t]\n  target_wait: {p95: 10}\n"
        "d:\n  tags: [t, {name: u, target_wait: {p95: 5}}]\n"
        "e:\n  tags_on_demand: [{name: v, target_wait: {p95: 5}}]\n"
        "f:\n  tags: [t]\n  credential: true\n",
    )
    errors = read_pools(path, runs_hooks=False).errors
    assert (
        f"{path}:4: pool 'b': tag 't' has target_wait p95 60 here and 30 at {path}:2: "
        "a tag has one target; say it once" in errors
    )
    assert any(e.startswith(f"{path}:7: pool 'c' has its own target_wait") for e in errors)
    assert any(e.startswith(f"{path}:9: pool 'd': tags 't', 'u' each have") for e in errors)
    assert any(e.startswith(f"{path}:11: pool 'e': target_wait on on-demand tag") for e in errors)
    assert any(e.startswith(f"{path}:13: pool 'f': tag 't'") and "credential" in e for e in errors)
    assert all("\n" not in e for e in errors)
