"""lessor hw without processes: topology, the rules' plans, hw.yaml, usage arithmetic."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from tests.hw.fake_sysfs import two_socket_smt

from lessor.hw import nvml
from lessor.hw.config import HwConfigError, Reservable, load_config
from lessor.hw.fit import Grant, environment, fit
from lessor.hw.rules import Request, plan
from lessor.hw.topology import Topology, parse_cpulist, read_topology
from lessor.hw.usage import busy_fraction, intervals, reservations_average


@pytest.fixture
def topo(tmp_path: Path) -> Topology:
    return read_topology(two_socket_smt(tmp_path / "sys"))


def everything(topo: Topology) -> Reservable:
    return Reservable(
        frozenset(c.id for c in topo.cores),
        frozenset(n.name for n in topo.nics),
        frozenset(g.pci for g in topo.gpus),
    )


def choose(topo: Topology, req: Request, busy: set[str] = set()) -> Grant | None:  # noqa: B006
    found = plan(topo, everything(topo), req)
    return fit(found, {u.lock for u in found.units()} - busy)


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


def test_gpus_are_display_and_3d_controllers_of_gpu_vendors(topo: Topology) -> None:
    """The BMC's VGA and a non-display NVIDIA function are not GPUs; indexes count per vendor."""
    assert [(g.pci, g.vendor, g.device, g.node, g.index) for g in topo.gpus] == [
        ("0000:17:00.0", "nvidia", "0x2330", 0, 0),
        ("0000:18:00.0", "amd", "0x740f", 0, 0),
        ("0000:b1:00.0", "nvidia", "0x2330", 1, 1),
        ("0000:b2:00.0", "amd", "0x740f", 1, 1),
    ]
    assert all(g.uuid is None for g in topo.gpus)  # no NVML on this machine: sysfs alone


def test_whole_cores_with_their_siblings_on_one_node(topo: Topology) -> None:
    got = choose(topo, Request(2, 2, same_node=True))
    assert got is not None
    assert got.cpus == (0, 1, 8, 9)
    assert [u.key for u in got.of_kind("nic")] == ["eth0", "eth1"]
    assert environment(got)["LESSOR_NUMA_NODE"] == "0"


def test_a_busy_node_sends_the_request_to_the_other(topo: Topology) -> None:
    got = choose(topo, Request(2, 2), {"core-0.lock"})
    assert got is not None and got.cpus == (1, 2, 9, 10)  # 3 cores, both NICs free on node 0
    got = choose(topo, Request(1, 2), {"nic-eth0.lock"})
    assert got is not None and got.cpus == (4, 12) and environment(got)["LESSOR_NUMA_NODE"] == "1"


def test_same_node_waits_rather_than_spanning_nodes(topo: Topology) -> None:
    busy = {f"core-{c}.lock" for c in (0, 1, 2, 4, 5, 6)}
    assert choose(topo, Request(2, 0, same_node=True), busy) is None
    spanning = choose(topo, Request(2, 0, same_node=False), busy)
    assert spanning is not None and spanning.cpus == (3, 7, 11, 15)
    assert "LESSOR_NUMA_NODE" not in environment(spanning)


def test_numa_node_is_said_whenever_the_cpus_sit_on_one(topo: Topology) -> None:
    """Issue 15: --cores alone spans nodes if it must, but says the node when it did not."""
    one = choose(topo, Request(2, 0, same_node=False))
    assert one is not None and environment(one)["LESSOR_NUMA_NODE"] == "0"
    # CPUs on node 1, the NIC on node 0 (--numa any): the CPUs' node is the one
    busy = {f"core-{c}.lock" for c in range(4)} | {"nic-eth2.lock", "nic-eth3.lock"}
    split = choose(topo, Request(1, 1, same_node=False), busy)
    assert split is not None and split.cpus == (4, 12)
    assert environment(split)["LESSOR_NUMA_NODE"] == "1"
    gpu_only = choose(topo, Request(0, 0, 1, same_node=False), {"gpu-0000:17:00.0.lock"})
    assert gpu_only is not None and environment(gpu_only)["LESSOR_NUMA_NODE"] == "0"


def test_smt_counts_threads_but_never_splits_a_core(topo: Topology) -> None:
    got = choose(topo, Request(3, 0, smt=True))
    assert got is not None
    assert [u.key for u in got.units] == ["0", "1"] and got.cpus == (0, 1, 8)


def test_gpus_come_from_the_node_of_the_cores(topo: Topology) -> None:
    """Both node-0 GPUs are busy: 2 cores and 1 GPU go to node 1 together."""
    busy = {"gpu-0000:17:00.0.lock", "gpu-0000:18:00.0.lock"}
    got = choose(topo, Request(2, 0, 1), busy)
    assert got is not None and got.cpus == (4, 5, 12, 13)
    assert [u.key for u in got.of_kind("gpu")] == ["0000:b1:00.0"]
    assert choose(topo, Request(1, 0, 3)) is None  # three GPUs are never on one node


def test_each_vendor_is_told_in_its_own_variables(topo: Topology) -> None:
    got = choose(topo, Request(0, 0, 4, same_node=False))
    assert got is not None
    env = environment(got)
    assert env["LESSOR_GPUS"] == "0000:17:00.0,0000:18:00.0,0000:b1:00.0,0000:b2:00.0"
    assert [env[f"GPU{i}"] for i in range(4)] == env["LESSOR_GPUS"].split(",")
    # NVIDIA by index, in the PCI order CUDA is told to count in
    assert env["CUDA_VISIBLE_DEVICES"] == "0,1" and env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
    # AMD: ROCr picks the GPUs, HIP numbers what ROCr left from 0
    assert env["ROCR_VISIBLE_DEVICES"] == "0,1" and env["HIP_VISIBLE_DEVICES"] == "0,1"
    amd = choose(topo, Request(0, 0, 1), {"gpu-0000:17:00.0.lock", "gpu-0000:18:00.0.lock"})
    assert amd is not None and [u.key for u in amd.units] == ["0000:b1:00.0"]
    one_amd = choose(
        topo,
        Request(0, 0, 1),
        {"gpu-0000:17:00.0.lock", "gpu-0000:18:00.0.lock", "gpu-0000:b1:00.0.lock"},
    )
    assert one_amd is not None
    env = environment(one_amd)
    assert env["ROCR_VISIBLE_DEVICES"] == "1" and env["HIP_VISIBLE_DEVICES"] == "0"
    assert "CUDA_VISIBLE_DEVICES" not in env and env["LESSOR_NUMA_NODE"] == "1"


class FakeNvml:
    """pynvml's calls as the tests need them: two NVIDIA GPUs, MIG unsupported on one."""

    class NVMLError(Exception):
        pass

    def __init__(self, fail_init: bool = False) -> None:
        self.fail_init = fail_init
        self.shut = False

    def nvmlInit(self) -> None:  # noqa: N802
        if self.fail_init:
            raise self.NVMLError("Driver Not Loaded")

    def nvmlShutdown(self) -> None:  # noqa: N802
        self.shut = True

    def nvmlDeviceGetCount(self) -> int:  # noqa: N802
        return 2

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:  # noqa: N802
        return i

    def nvmlDeviceGetPciInfo(self, h: int) -> Any:  # noqa: N802
        return SimpleNamespace(busId=[b"00000000:17:00.0", b"00000000:B1:00.0"][h])

    def nvmlDeviceGetUUID(self, h: int) -> str:  # noqa: N802
        return f"GPU-{h}aaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"

    def nvmlDeviceGetName(self, h: int) -> bytes:  # noqa: N802
        return b"NVIDIA H100 80GB HBM3"

    def nvmlDeviceGetMemoryInfo(self, h: int) -> Any:  # noqa: N802
        return SimpleNamespace(total=80 * 1024**3)

    def nvmlDeviceGetMigMode(self, h: int) -> tuple[int, int]:  # noqa: N802
        if h == 1:
            raise self.NVMLError("Not Supported")
        return (1, 1)


def test_nvml_adds_uuids_and_cuda_is_told_them(topo: Topology, tmp_path: Path) -> None:
    from dataclasses import replace

    library = FakeNvml()
    known = nvml.facts(library)  # type: ignore[arg-type]
    assert library.shut and set(known) == {"0000:17:00.0", "0000:b1:00.0"}
    assert known["0000:17:00.0"]["mig"] is True and known["0000:b1:00.0"]["mig"] is None
    assert known["0000:17:00.0"]["memory_mb"] == 80 * 1024
    gpus = tuple(replace(g, **known[g.pci]) if g.pci in known else g for g in topo.gpus)
    enriched = replace(topo, gpus=gpus)
    got = choose(enriched, Request(0, 0, 4, same_node=False))
    assert got is not None
    env = environment(got)
    assert env["CUDA_VISIBLE_DEVICES"] == (
        "GPU-0aaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee,GPU-1aaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
    )
    assert "CUDA_DEVICE_ORDER" not in env  # UUIDs need no order
    cfg = tmp_path / "hw.yaml"
    cfg.write_text("gpus: [GPU-1aaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee, '0000:18:00.0']\n")
    assert load_config(cfg, enriched).reservable(enriched).gpus == {"0000:b1:00.0", "0000:18:00.0"}


def test_without_nvml_or_its_driver_sysfs_alone_is_used() -> None:
    assert nvml.facts(FakeNvml(fail_init=True)) == {}  # type: ignore[arg-type]
    assert nvml.facts() == {}  # nvidia-ml-py is not installed here, or finds no driver


def test_only_the_reservable_set_is_handed_out(topo: Topology, tmp_path: Path) -> None:
    cfg_file = tmp_path / "hw.yaml"
    cfg_file.write_text(
        "cores: 4-5\nnics: [eth2, '0000:04:00.0']\ngpus: ['0000:b2:00.0']\n"
        "profiles:\n  ci: {cores: 2, gpus: 1}\n"
    )
    cfg = load_config(cfg_file, topo)
    reservable = cfg.reservable(topo)
    assert reservable == Reservable(
        frozenset({4, 5}), frozenset({"eth2", "eth3"}), frozenset({"0000:b2:00.0"})
    )
    assert cfg.profiles["ci"].cores == 2 and cfg.profiles["ci"].gpus == 1
    assert fit(plan(topo, reservable, Request(3, 0)), {f"core-{c}.lock" for c in range(8)}) is None


def test_without_hw_yaml_core_0_stays_for_the_os(topo: Topology, tmp_path: Path) -> None:
    reservable = load_config(tmp_path / "none.yaml", topo).reservable(topo)
    assert 0 not in reservable.cores and len(reservable.cores) == 7
    assert len(reservable.nics) == 4 and len(reservable.gpus) == 4


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("cores: 1-3\nnics: [eth9]\n", 2, "no such NIC 'eth9'"),
        ("cores: 99\n", 1, "no CPU 99"),
        ("profiles:\n  ci:\n    cores: two\n", 3, "whole number"),
        ("cpus: 1\n", 1, "unknown key 'cpus'"),
        ("gpus: ['0000:99:00.0']\n", 1, "no such GPU '0000:99:00.0'"),
        ("gpus:\n  - 0000:17:00.0\n", 2, "quote PCI addresses"),
        ("profiles:\n  ci: {cpus: 2}\n", 2, "expected {cores: N, nics: N, gpus: N}"),
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


def _reserve(token: str, t: float, units: list[str], profile: str) -> tuple[str, dict[str, str]]:
    fields = {"t": str(int(t * 1e9)), "token": token, "profile": profile.encode().hex()}
    return "reserve", {**fields, "units": ",".join(u.encode().hex() for u in units)}


def _release(token: str, t: float) -> tuple[str, dict[str, str]]:
    return "release", {"t": str(int(t * 1e9)), "token": token}


def test_utilisation_is_a_load_average_of_the_hardware() -> None:
    now = 10_000.0
    events = [
        _reserve("a", now - 120, ["core-1.lock", "core-2.lock", "nic-eth0.lock"], "ci"),
        _release("a", now - 30),
        _reserve("b", now - 15, ["core-3.lock", "gpu-0000:17:00.0.lock"], "-"),
        _release("a", now - 1),  # a late duplicate is ignored
    ]
    spans = intervals(events)
    # last minute: a had 2 of 4 cores for 30 s, b 1 core for 15 s -> (60 + 15) / 240
    assert busy_fraction(spans, "cores", 4, 60, now) == pytest.approx(75 / 240)
    assert busy_fraction(spans, "nics", 2, 60, now) == pytest.approx(30 / 120)
    assert busy_fraction(spans, "gpus", 4, 60, now) == pytest.approx(15 / 240)
    assert reservations_average(spans, "ci", 60, now) == pytest.approx(0.5)
    assert reservations_average(spans, "ci", 300, now) == pytest.approx(90 / 300)


def test_a_killed_reservation_ends_when_its_hardware_is_next_taken() -> None:
    """kill -9 writes no release: the next reservation of any of its units ends it."""
    now = 10_000.0
    events = [
        _reserve("dead", now - 50, ["core-1.lock", "core-2.lock"], "-"),
        _reserve("other", now - 40, ["core-3.lock"], "-"),  # not its hardware
        _reserve("next", now - 20, ["core-2.lock"], "-"),
    ]
    ends = {s.token: s.end for s in intervals(events)}
    assert ends == {"dead": pytest.approx(now - 20), "other": None, "next": None}
