"""The plan file Python writes for the native launcher, the state directory's protocol, pools."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.hw.fake_sysfs import two_socket_smt

from lessor.hw import cache, protocol
from lessor.hw.config import HwConfigError, Profile, Reservable
from lessor.hw.lab_pools import pools_yaml
from lessor.hw.rules import Request, plan
from lessor.hw.state import State, StateError
from lessor.hw.topology import read_topology

NATIVE = Path(__file__).parents[2] / "src/lessor/hw/native"


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[State, Path]:
    sysfs = two_socket_smt(tmp_path / "sys")
    cfg = tmp_path / "hw.yaml"
    cfg.write_text("cores: 0-3\nprofiles:\n  ci: {cores: 2, nics: 2}\n  'two words': {cores: 1}\n")
    monkeypatch.setenv("LESSOR_SYSFS_ROOT", str(sysfs))
    monkeypatch.setenv("LESSOR_HW_CONFIG", str(cfg))
    monkeypatch.delenv("LESSOR_HW_SERVER", raising=False)
    return State(str(tmp_path / "state")), cfg


def test_the_c_header_is_generated_from_protocol_py() -> None:
    assert (NATIVE / "protocol.h").read_text() == protocol.c_header(), (
        "run: python -m lessor.hw.protocol > src/lessor/hw/native/protocol.h"
    )


def test_the_cached_machine_follows_edits_of_hw_yaml(machine: tuple[State, Path]) -> None:
    state, cfg = machine
    topo, first = cache.load(state, None, None)
    assert topo == read_topology(os.environ["LESSOR_SYSFS_ROOT"])
    assert first.profiles["ci"] == Profile(2, 2)
    assert cache.machine(state) == (topo, first)  # read back, sysfs and YAML untouched
    cfg.write_text("cores: 4-7\n")  # a different size: seen at once, whatever the clock
    assert cache.machine(state) is None
    _, edited = cache.load(state, None, None)
    assert edited.cores == frozenset({4, 5, 6, 7}) and edited.profiles == {}
    cfg.write_text("cores: [\n")
    with pytest.raises(HwConfigError, match=r"hw\.yaml"):
        cache.load(state, None, None)


def test_the_plan_file_is_stale_in_another_environment(
    machine: tuple[State, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    state, _ = machine
    cache.load(state, None, None)
    monkeypatch.setenv("LESSOR_HW_SERVER", "http://lab:49100")
    assert cache.machine(state) is None  # the server's runs are never the launcher's
    monkeypatch.delenv("LESSOR_HW_SERVER")
    assert cache.machine(state) is not None
    monkeypatch.setenv("LESSOR_HW_CONFIG", "/elsewhere.yaml")
    assert cache.machine(state) is None


def test_profiles_have_plans_and_each_new_request_adds_one(machine: tuple[State, Path]) -> None:
    state, _ = machine
    topo, cfg = cache.load(state, None, None)
    text = (Path(state.path) / f"plan-{os.getuid()}").read_text()
    lines = text.splitlines()
    assert lines[0] == protocol.PLAN_MAGIC and lines[-1] == "end"
    keys = [bytes.fromhex(x.split()[1]).decode() for x in lines if x.startswith("request ")]
    assert keys == ["profile=ci"]  # a name the launcher cannot read is left to Python
    found = plan(topo, cfg.reservable(topo), Request(1, 0, 0, False))
    cache.add_request(state, "cores=1", found)
    cache.add_request(state, "cores=1", found)  # once
    lines = (Path(state.path) / f"plan-{os.getuid()}").read_text().splitlines()
    keys = [bytes.fromhex(x.split()[1]).decode() for x in lines if x.startswith("request ")]
    assert keys == ["profile=ci", "cores=1"]
    assert json.loads(next(x for x in lines if x.startswith("machine "))[8:])["config"]["cores"]


@pytest.mark.parametrize(
    ("options", "key"),
    [
        (["--nics", "1", "--cores", "2"], "cores=2 nics=1"),
        (
            ["--gpus", "1", "--numa", "same", "--profile", "ci.big-2"],
            "gpus=1 numa=same profile=ci.big-2",
        ),
        ([], None),
        (["--cores"], None),
        (["--cores=2"], None),
        (["--cores", "1", "--cores", "2"], None),
        (["--smt", "--cores", "2"], None),  # a flag: never the launcher's
        (["--cores", "-1"], None),
        (["--profile", "two words"], None),
        (["--profile", "é"], None),
        (["--profile", "\udcff"], None),  # an undecodable byte of a command line
        (["--time-limit", "5", "--cores", "1"], None),
        (["-c", "1"], None),
    ],
)
def test_request_keys_are_plain_option_pairs(options: list[str], key: str | None) -> None:
    assert cache.request_key(options) == key


def test_a_state_directory_of_another_version_is_taken_over_only_when_unused(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state"
    State(str(path))
    assert (path / "protocol").read_text() == f"{protocol.PROTOCOL_LINE}\n"
    (path / "protocol").write_text("lessor-hw 1\n")
    held = os.open(path / "core-3.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(held, fcntl.LOCK_EX)  # someone of that version has core 3
    with pytest.raises(StateError, match="in use by another version of lessor hw"):
        State(str(path))
    os.close(held)
    State(str(path))  # nobody left: ours now
    assert (path / "protocol").read_text() == f"{protocol.PROTOCOL_LINE}\n"


def test_generated_pools_load_on_the_server(tmp_path: Path) -> None:
    from lessor.config.pools import load_pools

    topo = read_topology(two_socket_smt(tmp_path / "sys"))
    gpus = frozenset({"0000:17:00.0", "0000:b1:00.0", "0000:b2:00.0"})
    reservable = Reservable(frozenset({1, 2, 3, 4}), frozenset({"eth0", "eth2"}), gpus)
    (tmp_path / "pools.yaml").write_text(pools_yaml(topo, reservable, "lab-1"))
    pools = {p.name: p for p in load_pools(tmp_path / "pools.yaml")}
    assert sorted(pools) == [
        "hw-lab-1-gate",
        "hw-lab-1-node0-cores",
        "hw-lab-1-node0-gpus",
        "hw-lab-1-node0-nics",
        "hw-lab-1-node1-cores",
        "hw-lab-1-node1-gpus",
        "hw-lab-1-node1-nics",
    ]
    node0 = pools["hw-lab-1-node0-cores"]
    assert node0.max == node0.max_prealloc == 3  # cores 1, 2, 3
    assert {t.name for t in node0.tags} == {"hw", "host=lab-1", "node=0", "core"}
    assert pools["hw-lab-1-node1-gpus"].max == 2
    assert {t.name for t in pools["hw-lab-1-node1-gpus"].tags} == {
        "hw",
        "host=lab-1",
        "node=1",
        "gpu",
    }

    def slot(pool: str, index: int) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["sh", "-c", pools[pool].cmd_new or ""],
            env={**os.environ, "RESALLOC_ID_IN_POOL": str(index)},
            capture_output=True,
            text=True,
            check=False,
        )

    assert json.loads(slot("hw-lab-1-node0-cores", 2).stdout)["cpus"] == [3, 11]
    gpu = json.loads(slot("hw-lab-1-node1-gpus", 1).stdout)
    assert gpu == {
        "kind": "gpu",
        "host": "lab-1",
        "node": 1,
        "pci": "0000:b2:00.0",
        "vendor": "amd",
        "device": "0x740f",
        "index": 1,
        "uuid": None,
    }
    # no fourth slot: cmd_new fails rather than print nothing
    assert slot("hw-lab-1-node0-cores", 3).returncode != 0


def test_the_subcommands_print_their_own_help() -> None:
    """Issue 15: `lessor hw topology --help` is topology's help, not the run's."""
    for sub, words in (
        ("topology", "NUMA nodes"),
        ("status", "utilisation"),
        ("pools", "pools.yaml"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "lessor.hw", sub, "--help"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert done.stdout.startswith(f"Usage: lessor hw {sub} [OPTIONS]"), done.stdout
        assert words in done.stdout and "--cores" not in done.stdout
