"""What keeps `lessor hw` quick to start, held to the behaviour it replaces."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.hw.fake_sysfs import two_socket_smt

from lessor.hw.argv import RunArgs, parse_run
from lessor.hw.cache import machine
from lessor.hw.config import HwConfigError, Profile
from lessor.hw.lab_pools import pools_yaml
from lessor.hw.topology import Core, read_topology
from lessor.hw.wire import dumps

HEAVY = ("click", "rich", "httpx", "yaml", "argparse", "subprocess", "dataclasses", "typing")


def test_the_lessor_hw_entry_point_imports_nothing_heavy(tmp_path: Path) -> None:
    cfg = tmp_path / "hw.yaml"
    cfg.write_text(f"cores: {max(os.sched_getaffinity(0))}\n")
    probe = (
        "import sys; sys.argv = ['lessor', 'hw', '--cores', '1', '--', 'true']\n"
        "import lessor.entry\n"
        "try:\n    lessor.entry.main()\nexcept SystemExit as e:\n    code = e.code\n"
        f"print(code, sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))"
    )
    env = {**os.environ, "LESSOR_HW_CONFIG": str(cfg), "LESSOR_HW_STATE_DIR": str(tmp_path)}
    env.pop("LESSOR_SYSFS_ROOT", None)
    for _ in range(2):  # the first run fills the cache (and may read YAML); the second may not
        done = subprocess.run(
            [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
        )
    assert done.stdout.strip() == "0 []", done.stderr


def test_the_fast_reading_of_a_run_agrees_with_argparse_or_declines() -> None:
    got = parse_run(["--cores", "2", "--nics", "1", "--smt", "--numa", "any", "--", "a", "--x"])
    assert got == RunArgs(("a", "--x"), cores=2, nics=1, smt=True, numa="any")
    assert parse_run(["--time-limit", "1.5", "--server", "http://h", "--", "a"]) == RunArgs(
        ("a",), time_limit=1.5, server="http://h"
    )
    for unusual in (
        ["--cores", "2"],  # no command
        ["--cores", "2", "--"],
        ["--cores=2", "--", "a"],
        ["--cores", "two", "--", "a"],
        ["--numa", "some", "--", "a"],
        ["--cores", "1", "--cores", "2", "--", "a"],
        ["--help", "--", "a"],
        ["status", "--", "a"],
        ["--cores", "--smt", "--", "a"],
    ):
        assert parse_run(unusual) is None, unusual  # argparse explains what is wrong


def test_state_files_are_json_that_json_reads_back() -> None:
    tricky = 'quote " backslash \\ newline \n tab \t del \x7f é 😀 undecodable \udcff'
    value = {"command": tricky, "cpus": [1, 9], "t": 1764600000.25, "n": None, "ok": True}
    assert json.loads(dumps(value)) == value
    dumps(value).encode()  # writable as UTF-8 as it is


def test_records_compare_hash_and_refuse_changes() -> None:
    core = Core(2, 0, (2, 10))
    assert core == Core(id=2, node=0, cpus=(2, 10)) and hash(core) == hash(Core(2, 0, (2, 10)))
    assert core != Core(3, 0, (3, 11)) and repr(core) == "Core(id=2, node=0, cpus=(2, 10))"
    assert Profile() == Profile(0, 0)
    with pytest.raises(AttributeError):
        core.node = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        Core(1, 0)  # type: ignore[call-arg]


def test_the_cached_machine_follows_edits_of_hw_yaml(tmp_path: Path) -> None:
    sysfs = str(two_socket_smt(tmp_path / "sys"))
    cfg = tmp_path / "hw.yaml"
    cfg.write_text("cores: 0-3\nprofiles:\n  ci: {cores: 2, nics: 2}\n")
    topo, first = machine(str(tmp_path), sysfs, str(cfg), required=True)
    assert topo == read_topology(sysfs) and first.profiles == {"ci": Profile(2, 2)}
    again = machine(str(tmp_path), sysfs, str(cfg), required=True)
    assert again == (topo, first)
    cfg.write_text("cores: 4-7\n")  # a different size: seen at once, whatever the clock
    _, edited = machine(str(tmp_path), sysfs, str(cfg), required=True)
    assert edited.cores == frozenset({4, 5, 6, 7}) and edited.profiles == {}
    cfg.write_text("cores: [\n")
    with pytest.raises(HwConfigError, match=r"hw\.yaml"):
        machine(str(tmp_path), sysfs, str(cfg), required=True)


def test_generated_pools_load_on_the_server(tmp_path: Path) -> None:
    from lessor.config.pools import load_pools

    topo = read_topology(two_socket_smt(tmp_path / "sys"))
    text = pools_yaml(topo, frozenset({1, 2, 3, 4}), frozenset({"eth0", "eth2"}), "lab-1")
    (tmp_path / "pools.yaml").write_text(text)
    pools = {p.name: p for p in load_pools(tmp_path / "pools.yaml")}
    assert sorted(pools) == [
        "hw-lab-1-gate",
        "hw-lab-1-node0-cores",
        "hw-lab-1-node0-nics",
        "hw-lab-1-node1-cores",
        "hw-lab-1-node1-nics",
    ]
    node0 = pools["hw-lab-1-node0-cores"]
    assert node0.max == node0.max_prealloc == 3  # cores 1, 2, 3
    assert {t.name for t in node0.tags} == {"hw", "host=lab-1", "node=0", "core"}
    slot = subprocess.run(
        ["sh", "-c", node0.cmd_new or ""],
        env={**os.environ, "RESALLOC_ID_IN_POOL": "2"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(slot.stdout)["cpus"] == [3, 11]
    past = subprocess.run(
        ["sh", "-c", node0.cmd_new or ""],
        env={**os.environ, "RESALLOC_ID_IN_POOL": "3"},
        capture_output=True,
        check=False,
    )
    assert past.returncode != 0  # no fourth slot: cmd_new fails rather than print nothing


def test_the_native_cache_leaves_out_what_a_line_cannot_say(tmp_path: Path) -> None:
    from lessor.hw.cache import NATIVE_FORMAT, native_text
    from lessor.hw.config import HwConfig
    from lessor.hw.topology import Nic, Topology

    sysfs = str(two_socket_smt(tmp_path / "sys"))
    cfg = tmp_path / "hw.yaml"
    cfg.write_text("cores: 0-3\nprofiles:\n  ci: {cores: 2, nics: 2}\n  'two words': {cores: 1}\n")
    machine(str(tmp_path), sysfs, str(cfg), required=False)
    lines = (tmp_path / f"machine-{os.getuid()}.native").read_text().splitlines()
    assert lines[0] == NATIVE_FORMAT and lines[-1] == "end"
    assert "profile ci 2 2" in lines and not any("two words" in line for line in lines)
    assert [x for x in lines if x.startswith("reservable-core")] == [
        f"reservable-core {c}" for c in range(4)
    ]
    key = ("k", sysfs, (1, 2), str(cfg), None, False, "0-15\n", ("eth 0",), "boot\n")
    topo = Topology((), (Nic("eth 0", "0000:01:00.0", 0),))
    assert native_text(key, topo, HwConfig(None, None, {})) is None  # a NIC name with a space
