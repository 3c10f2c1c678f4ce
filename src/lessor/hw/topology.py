"""The machine's CPUs, physical cores, NUMA nodes, NICs and GPUs, read from sysfs.

Everything takes a root directory so tests can describe any machine with a
fake tree (`LESSOR_SYSFS_ROOT`), e.g. two sockets with SMT, four NICs and
four GPUs of two vendors.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

SYSFS_ENV = "LESSOR_SYSFS_ROOT"

GPU_CLASSES = ("0x0300", "0x0302")
"""PCI classes of a GPU: display controller (VGA compatible) and 3D controller."""
GPU_VENDORS = {"0x10de": "nvidia", "0x1002": "amd", "0x8086": "intel"}
"""The vendors whose display controllers are GPUs; a server's BMC VGA (ASPEED, Matrox) is not."""

_PCI = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")


@dataclass(frozen=True)
class Core:
    """A physical core: the unit `lessor hw` hands out, all its SMT siblings together."""

    id: int  # the lowest CPU number of the core: unique machine-wide
    node: int
    cpus: tuple[int, ...]


@dataclass(frozen=True)
class Nic:
    name: str
    pci: str
    node: int


@dataclass(frozen=True)
class Gpu:
    """A whole GPU (a PCI function); NVIDIA's library, where present, adds what sysfs lacks."""

    pci: str
    vendor: str  # nvidia, amd, intel
    device: str  # the PCI device id, 0x2330
    node: int
    index: int  # among the machine's GPUs of its vendor, in PCI order (NVML's own when known)
    uuid: str | None = None
    name: str | None = None
    memory_mb: int | None = None
    mig: bool | None = None


@dataclass(frozen=True)
class Topology:
    cores: tuple[Core, ...]
    nics: tuple[Nic, ...]
    gpus: tuple[Gpu, ...] = ()

    @property
    def nodes(self) -> tuple[int, ...]:
        found = {c.node for c in self.cores} | {n.node for n in self.nics}
        return tuple(sorted(found | {g.node for g in self.gpus}))

    def core_of(self, cpu: int) -> Core | None:
        return next((c for c in self.cores if cpu in c.cpus), None)


def parse_cpulist(text: str) -> list[int]:
    """'0-3,8,10-11' -> [0, 1, 2, 3, 8, 10, 11] (the kernel's list format)."""
    cpus: list[int] = []
    for part in text.strip().split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        cpus.extend(range(int(lo), int(hi or lo) + 1))
    return cpus


def sysfs_root(explicit: str | None = None) -> str:
    return explicit or os.environ.get(SYSFS_ENV) or "/sys"


def read_topology(root_dir: str | Path, *, nvml: bool = True) -> Topology:
    """Read from sysfs; GPUs are enriched by NVIDIA's library when it is there (`nvml.py`)."""
    root = Path(root_dir)
    cpu_dir = root / "devices/system/cpu"
    online_file = cpu_dir / "online"
    online = set(parse_cpulist(online_file.read_text())) if online_file.exists() else None
    node_of: dict[int, int] = {}
    for node_dir in sorted((root / "devices/system/node").glob("node[0-9]*")):
        for cpu in parse_cpulist((node_dir / "cpulist").read_text()):
            node_of[cpu] = int(node_dir.name[4:])
    cores: dict[int, Core] = {}
    for d in sorted(cpu_dir.glob("cpu[0-9]*"), key=lambda p: int(p.name[3:])):
        cpu = int(d.name[3:])
        if online is not None and cpu not in online:
            continue
        siblings_file = d / "topology/thread_siblings_list"
        siblings = parse_cpulist(siblings_file.read_text()) if siblings_file.exists() else [cpu]
        siblings = sorted(s for s in siblings if online is None or s in online)
        first = siblings[0]
        if first not in cores:
            cores[first] = Core(first, node_of.get(first, 0), tuple(siblings))
    nics = []
    for d in sorted((root / "class/net").glob("*")):
        device = d / "device"
        if not device.exists():
            continue  # virtual: lo, bridges, tunnels
        nics.append(Nic(d.name, _pci_address(device), _node(device)))
    gpus = read_gpus(root)
    if nvml and any(g.vendor == "nvidia" for g in gpus):
        from lessor.hw.nvml import facts

        known = facts()
        gpus = tuple(replace(g, **known[g.pci]) if g.pci in known else g for g in gpus)
    return Topology(tuple(cores.values()), tuple(nics), gpus)


def read_gpus(root: Path) -> tuple[Gpu, ...]:
    """Display and 3D controllers of GPU vendors under bus/pci/devices, in PCI order."""
    found: list[Gpu] = []
    devices = root / "bus/pci/devices"
    names = sorted(os.listdir(devices)) if devices.is_dir() else []
    for name in names:
        d = devices / name
        pci_class, vendor = _read(d / "class"), _read(d / "vendor")
        if not pci_class.startswith(GPU_CLASSES) or vendor not in GPU_VENDORS:
            continue
        kind = GPU_VENDORS[vendor]
        index = sum(g.vendor == kind for g in found)
        found.append(Gpu(name, kind, _read(d / "device"), _node(d), index))
    return tuple(found)


def _read(path: Path) -> str:
    try:
        return path.read_text().strip().lower()
    except OSError:
        return ""


def _node(device: Path) -> int:
    """The device's NUMA node; a machine without NUMA says -1, which is node 0."""
    try:
        return max(int((device / "numa_node").read_text()), 0)
    except (OSError, ValueError):
        return 0


def _pci_address(device: Path) -> str:
    """The PCI function the NIC hangs off (virtio NICs sit one level below it)."""
    parts = os.path.realpath(device).split(os.sep)
    return next((p for p in reversed(parts) if _PCI.match(p)), parts[-1])
