"""lessor hw without processes: topology parsing, choosing, hw.yaml, usage arithmetic."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.hw.fake_sysfs import two_socket_smt

from lessor.hw.choose import Request, choose
from lessor.hw.config import HwConfigError, load_config
from lessor.hw.topology import Topology, parse_cpulist, read_topology
from lessor.hw.usage import busy_fraction, holders_average, intervals


@pytest.fixture
def topo(tmp_path: Path) -> Topology:
    return read_topology(two_socket_smt(tmp_path / "sys"))


def test_cpulists_parse_as_the_kernel_writes_them() -> None:
    assert parse_cpulist("0-3,8,10-11\n") == [0, 1, 2, 3, 8, 10, 11]


def test_topology_of_a_two_socket_smt_machine(topo: Topology) -> None:
    assert topo.nodes == (0, 1)
    assert len(topo.cores) == 8
    assert topo.cores[0].cpus == (0, 8) and topo.cores[0].node == 0
    assert topo.cores[5].cpus == (5, 13) and topo.cores[5].node == 1
    assert [(n.name, n.pci, n.node) for n in topo.nics] == [
        ("eth0", "0000:01:00.0", 0),
        ("eth1", "0000:02:00.0", 0),
        ("eth2", "0000:03:00.0", 1),
        ("eth3", "0000:04:00.0", 1),
    ]


def all_of(topo: Topology) -> tuple[frozenset[int], frozenset[str]]:
    return frozenset(c.id for c in topo.cores), frozenset(n.name for n in topo.nics)


def test_whole_cores_with_their_siblings_on_one_node(topo: Topology) -> None:
    cores, nics = all_of(topo)
    got = choose(topo, cores, nics, frozenset(), frozenset(), Request(2, 2, same_node=True))
    assert got is not None
    assert got.cpus == (0, 1, 8, 9) and got.node == 0
    assert [n.name for n in got.nics] == ["eth0", "eth1"]


def test_a_busy_node_sends_the_request_to_the_other(topo: Topology) -> None:
    cores, nics = all_of(topo)
    got = choose(topo, cores, nics, frozenset({0}), frozenset(), Request(2, 2))
    assert got is not None and got.node == 0  # 3 cores and both NICs still free on node 0
    got = choose(topo, cores, nics, frozenset(), frozenset({"eth0"}), Request(1, 2))
    assert got is not None and got.node == 1 and got.cpus == (4, 12)


def test_same_node_waits_rather_than_spanning_nodes(topo: Topology) -> None:
    cores, nics = all_of(topo)
    busy = frozenset({0, 1, 2, 4, 5, 6})
    assert choose(topo, cores, nics, busy, frozenset(), Request(2, 0, same_node=True)) is None
    spanning = choose(topo, cores, nics, busy, frozenset(), Request(2, 0, same_node=False))
    assert spanning is not None and spanning.cpus == (3, 7, 11, 15)


def test_smt_counts_threads_but_never_splits_a_core(topo: Topology) -> None:
    cores, nics = all_of(topo)
    got = choose(topo, cores, nics, frozenset(), frozenset(), Request(3, 0, smt=True))
    assert got is not None
    assert [c.id for c in got.cores] == [0, 1] and got.cpus == (0, 1, 8)


def test_only_the_reservable_set_is_handed_out(topo: Topology, tmp_path: Path) -> None:
    cfg_file = tmp_path / "hw.yaml"
    cfg_file.write_text("cores: 4-5\nnics: [eth2, '0000:04:00.0']\nprofiles:\n  ci: {cores: 2}\n")
    cfg = load_config(cfg_file, topo)
    cores, nics = cfg.reservable(topo)
    assert cores == {4, 5} and nics == {"eth2", "eth3"}
    assert cfg.profiles["ci"].cores == 2
    assert choose(topo, cores, nics, frozenset(), frozenset(), Request(3, 0)) is None


def test_without_hw_yaml_core_0_stays_for_the_os(topo: Topology, tmp_path: Path) -> None:
    cores, nics = load_config(tmp_path / "none.yaml", topo).reservable(topo)
    assert 0 not in cores and len(cores) == 7 and len(nics) == 4


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("cores: 1-3\nnics: [eth9]\n", 2, "no such NIC 'eth9'"),
        ("cores: 99\n", 1, "no CPU 99"),
        ("profiles:\n  ci:\n    cores: two\n", 3, "whole number"),
        ("cpus: 1\n", 1, "unknown key 'cpus'"),
    ],
)
def test_bad_hw_yaml_names_file_and_line(
    topo: Topology, tmp_path: Path, text: str, line: int, words: str
) -> None:
    cfg_file = tmp_path / "hw.yaml"
    cfg_file.write_text(text)
    with pytest.raises(HwConfigError) as e:
        load_config(cfg_file, topo)
    assert f"{cfg_file}:{line}:" in str(e.value) and words in str(e.value)


def test_utilisation_is_a_load_average_of_the_hardware() -> None:
    now = 10_000.0
    events = [
        {"event": "reserve", "token": "a", "t": now - 120, "cores": 2, "nics": 1, "profile": "ci"},
        {"event": "release", "token": "a", "t": now - 30},
        {"event": "reserve", "token": "b", "t": now - 15, "cores": 1, "nics": 0, "profile": "-"},
        {"event": "release", "token": "a", "t": now - 1},  # a late duplicate is ignored
    ]
    spans = intervals(events)
    # last minute: a held 2 of 4 cores for 30 s, b 1 core for 15 s -> (60 + 15) / 240
    assert busy_fraction(spans, "cores", 4, 60, now) == pytest.approx(75 / 240)
    assert busy_fraction(spans, "nics", 2, 60, now) == pytest.approx(30 / 120)
    assert holders_average(spans, "ci", 60, now) == pytest.approx(0.5)
    assert holders_average(spans, "ci", 300, now) == pytest.approx(90 / 300)
