"""A host's facts become a root provider and NUMA children with inventories and os-traits."""

from __future__ import annotations

from pathlib import Path

from tests.hw.fake_sysfs import two_socket_smt

from lessor.agent.inventory import HostFacts, Reserves, cpu_traits, host_providers
from lessor.hw.topology import read_topology

FACTS = HostFacts(32, 65536, 500, frozenset({"avx2", "sse4_2", "not_a_flag", "fpu"}))


def test_cpu_flags_become_os_traits_names_that_exist() -> None:
    traits = cpu_traits(FACTS.cpu_flags)
    assert "HW_CPU_X86_AVX2" in traits
    assert not any("NOT_A_FLAG" in t for t in traits)


def test_two_sockets_give_a_root_and_two_numa_children(tmp_path: Path) -> None:
    topo = read_topology(two_socket_smt(tmp_path), nvml=False)
    root, *nodes = host_providers(
        "h1", FACTS, topo, Reserves(vcpu=2, memory_mb=4096), ("CUSTOM_LAB",)
    )
    assert root.inventories == {"VCPU": 32, "MEMORY_MB": 65536, "DISK_GB": 500}
    assert root.reserved == {"VCPU": 2, "MEMORY_MB": 4096, "DISK_GB": 0}
    assert "CUSTOM_LAB" in root.traits and "HW_CPU_X86_AVX2" in root.traits
    assert [n.name for n in nodes] == ["h1_numa0", "h1_numa1"]
    assert nodes[0].inventories == {"PCPU": 4, "PGPU": 2, "CUSTOM_NIC": 2}


def test_reserves_never_exceed_the_total() -> None:
    topo = read_topology("/nonexistent", nvml=False)
    (root,) = host_providers("h", HostFacts(2, 1024, 0, frozenset()), topo, Reserves(vcpu=9))
    assert root.reserved["VCPU"] == 2
    assert "DISK_GB" not in root.inventories
