"""What a host offers, as Placement providers: the host, and one child per NUMA node.

Pure: the facts (psutil's numbers, sysfs's topology, /proc/cpuinfo's flags) come in,
providers with inventories and traits come out, so tests describe any machine.
Trait names come from the os-traits package, never a hand-written list.

A NUMA node's NICs are counted as `CUSTOM_NIC`: os-resource-classes has no class
for a whole network card (`PCI_DEVICE` is any PCI device, `SRIOV_NET_VF` a virtual
function, `NET_BW_*` bandwidth), and a ticket asking for "one NIC near these cores"
must not be satisfied by a GPU or a VF.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import os_traits

from lessor.hw.topology import Topology


@dataclass(frozen=True)
class HostFacts:
    vcpus: int
    memory_mb: int
    disk_gb: int
    cpu_flags: frozenset[str]


@dataclass(frozen=True)
class Reserves:
    """What the host keeps for itself; configured in agent.yaml (`reserved:`)."""

    vcpu: int = 0
    memory_mb: int = 0
    disk_gb: int = 0


@dataclass(frozen=True)
class Provider:
    name: str
    inventories: dict[str, int]  # resource class -> total
    reserved: dict[str, int] = field(default_factory=dict)
    traits: tuple[str, ...] = ()
    numa_node: int | None = None  # None: the host (root) provider


def cpu_traits(flags: frozenset[str]) -> tuple[str, ...]:
    """x86 flags as os-traits names: `avx2` -> HW_CPU_X86_AVX2, where os-traits knows it."""
    known = set(os_traits.get_traits(prefix="HW_CPU_X86_"))
    return tuple(sorted(t for f in flags if (t := "HW_CPU_X86_" + f.upper()) in known))


def host_providers(
    name: str,
    facts: HostFacts,
    topology: Topology,
    reserves: Reserves = Reserves(),
    custom_traits: tuple[str, ...] = (),
) -> list[Provider]:
    """The root provider first, then its NUMA nodes (PCPU per physical core, PGPU per GPU)."""
    root_inv = {"VCPU": facts.vcpus, "MEMORY_MB": facts.memory_mb, "DISK_GB": facts.disk_gb}
    reserved = {
        "VCPU": min(reserves.vcpu, facts.vcpus),
        "MEMORY_MB": min(reserves.memory_mb, facts.memory_mb),
        "DISK_GB": min(reserves.disk_gb, facts.disk_gb),
    }
    traits = tuple(sorted({*cpu_traits(facts.cpu_flags), *custom_traits}))
    out = [Provider(name, {k: v for k, v in root_inv.items() if v > 0}, reserved, traits)]
    for node in topology.nodes:
        inv = {
            "PCPU": sum(c.node == node for c in topology.cores),
            "PGPU": sum(g.node == node for g in topology.gpus),
            "CUSTOM_NIC": sum(n.node == node for n in topology.nics),
        }
        out.append(
            Provider(f"{name}_numa{node}", {k: v for k, v in inv.items() if v > 0}, numa_node=node)
        )
    return out
